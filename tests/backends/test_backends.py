"""Backends behave like the torch Encoder; token-budget batching; auto's choice with the CPU flags mocked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedlab import Encoder, backends
from embedlab.backends import BACKENDS, choose_backend, load_backend
from embedlab.backends.support import check_graph_prompt
from embedlab.backends.torch_backend import TorchHalfBackend
from embedlab.cli.app import app
from embedlab.errors import EmbedlabError
from embedlab.hardware import FEATURES, cpu_info
from embedlab.models.token_batches import length_sorted_batches
from tests.backends.conftest import running_on

TEXTS = ["short", "a somewhat longer sentence about music and guitars", "", "x " * 30, "Two dogs run in snow."]
AVX2_ONLY = frozenset({"avx2", "fma"})
CPU_A = frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"})
VNNI_ONLY = frozenset({"avx2", "fma", "avx512f", "avx512_vnni"})
# AMD EPYC Zen 4/5: AVX512-BF16 and VNNI dot products, no AMX tiles.
BF16_NO_AMX = frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"})


def mock_cpu(monkeypatch, flags: frozenset[str]) -> None:
    monkeypatch.setattr(backends, "cpu_info", lambda: cpu_info(model="Mocked CPU", flags=flags))


# ---- the same encode behaviour on every backend ---------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"dim": 64}, {"normalize": False}, {"prompt": "query: "}, {"batch_size": 2}, {"max_tokens": 16}],
    ids=lambda o: ",".join(o) or "defaults",
)
def test_onnx_encode_options_match_torch(minilm, onnx_minilm, options) -> None:
    assert np.abs(onnx_minilm.encode(TEXTS, **options) - minilm.encode(TEXTS, **options)).max() < 1e-4


def test_shapes_and_order_are_those_of_torch(onnx_minilm, int8_minilm) -> None:
    for encoder in (onnx_minilm, int8_minilm):
        assert encoder.encode("one text").shape == (384,)
        assert encoder.encode([]).shape == (0, 384)
        forward, backward = encoder.encode(TEXTS), encoder.encode(TEXTS[::-1])
        assert np.abs(forward - backward[::-1]).max() < 1e-5  # order restored whatever the batches


def test_bad_inputs_fail_alike(onnx_minilm) -> None:
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        onnx_minilm.encode(["ok", None])
    with pytest.raises(EmbedlabError, match="max_tokens"):
        onnx_minilm.encode(TEXTS, max_tokens=0)


def test_unknown_backend_and_bad_threads_are_one_line_errors(minilm) -> None:
    with pytest.raises(EmbedlabError, match="unknown backend 'tensorrt'"):
        Encoder.load("minilm", backend="tensorrt")
    with pytest.raises(EmbedlabError, match="threads"):
        load_backend(minilm, "torch", threads=0)


def test_max_tokens_changes_batches_not_embeddings(minilm) -> None:
    assert np.abs(minilm.encode(TEXTS, max_tokens=8) - minilm.encode(TEXTS)).max() < 1e-5


# ---- torch-bf16 -----------------------------------------------------------------------------------


def test_bf16_is_refused_without_native_bf16(monkeypatch, minilm) -> None:
    mock_cpu(monkeypatch, AVX2_ONLY)
    with pytest.raises(EmbedlabError, match="native bf16"):
        load_backend(minilm, "torch-bf16")


def test_bf16_with_native_bf16_stays_close_to_fp32(monkeypatch, minilm) -> None:
    mock_cpu(monkeypatch, CPU_A)
    backend = load_backend(minilm, "torch-bf16")
    assert isinstance(backend, TorchHalfBackend)
    with running_on(minilm, backend):
        bf16 = minilm.encode(TEXTS[:2])
    assert np.sum(bf16 * minilm.encode(TEXTS[:2]), axis=1).min() > 0.99


def test_bf16_copy_follows_the_weights_and_leaves_the_model_fp32(monkeypatch, tmp_path) -> None:
    mock_cpu(monkeypatch, CPU_A)
    encoder = Encoder.load("minilm", backend="torch-bf16")
    before = encoder.encode(TEXTS[:2])
    with torch.no_grad():
        encoder.transformer.embeddings.word_embeddings.weight.mul_(-1.0)  # as an optimizer step would, in place
    after = encoder.encode(TEXTS[:2])
    assert np.sum(before * after, axis=1).max() < 0.99  # a stale bf16 copy would give `before` again
    fp32 = Encoder.load(encoder.save(tmp_path / "m"))  # saved from the fp32 weights, pooler included
    assert next(fp32.transformer.parameters()).dtype == torch.float32
    assert getattr(encoder.transformer, "pooler", None) is not None
    assert np.sum(fp32.encode(TEXTS[:2]) * after, axis=1).min() > 0.99


# ---- auto -----------------------------------------------------------------------------------------


def test_auto_picks_bf16_on_amx_int8_with_vnni_and_int8_onnx_on_avx2() -> None:
    amx = choose_backend(cpu_info(flags=CPU_A))
    assert amx.name == "torch-bf16" and "amx_bf16" in amx.reason
    assert choose_backend(cpu_info(flags=CPU_A), onnx_available=False).name == "torch-bf16"
    assert choose_backend(cpu_info(flags=VNNI_ONLY)).name == "onnx-int8"
    # bf16 dot products without AMX: bf16 is as fast as int8 there and lossless, so it wins over onnx-int8.
    zen = choose_backend(cpu_info(flags=BF16_NO_AMX))
    assert zen.name == "torch-bf16" and "avx512_bf16" in zen.reason and "embedlab[openvino]" in zen.reason
    # There static int8 OpenVINO runs well past bf16 (docs/benchmarks/encode.md), so it wins when installed;
    # on AMX, bf16 tiles stay the measured choice, and without VNNI no int8 is chosen.
    zen_openvino = choose_backend(cpu_info(flags=BF16_NO_AMX), openvino_available=True)
    assert zen_openvino.name == "openvino-int8" and "avx512_vnni" in zen_openvino.reason
    assert choose_backend(cpu_info(flags=CPU_A), openvino_available=True).name == "torch-bf16"
    assert choose_backend(cpu_info(flags=BF16_NO_AMX - {"avx512_vnni"}), openvino_available=True).name == "torch-bf16"
    assert choose_backend(cpu_info(flags=BF16_NO_AMX), onnx_available=False).name == "torch-bf16"
    # AVX2 alone: dynamic int8 ONNX still ran well past fp32 there; OpenVINO's int8 did not, so not even when installed.
    avx2 = choose_backend(cpu_info(flags=AVX2_ONLY), openvino_available=True)
    assert avx2.name == "onnx-int8" and "VNNI" in avx2.reason
    assert choose_backend(cpu_info(flags=frozenset())).name == "onnx"
    assert choose_backend(cpu_info(flags=VNNI_ONLY), onnx_available=False).name == "torch"
    assert choose_backend(cpu_info(flags=CPU_A), device="cuda", gpu_bf16=True).name == "torch-bf16"
    assert choose_backend(cpu_info(flags=AVX2_ONLY), device="cuda", gpu_bf16=False).name == "torch-fp16"
    assert choose_backend(cpu_info(flags=CPU_A), device="mps").name == "torch"


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(FEATURES)), st.booleans())
def test_auto_never_picks_a_slow_path(flags, openvino) -> None:
    cpu = cpu_info(flags=frozenset(flags))
    choice = choose_backend(cpu, openvino_available=openvino)
    assert choice.name in BACKENDS and choice.reason
    assert choice.name != "torch-bf16" or cpu.avx512_bf16 or cpu.amx_bf16
    assert choice.name != "onnx-int8" or cpu.avx512_vnni or cpu.amx_int8 or cpu.avx2
    assert choice.name != "openvino-int8" or (openvino and cpu.avx512_vnni and cpu.avx512_bf16 and not cpu.amx_bf16)
    # Lossless before lossy: dynamic int8 only where bf16 would be emulated, static int8 only where measured.
    native_bf16 = cpu.avx512_bf16 or cpu.amx_bf16
    assert (choice.name in ("torch-bf16", "openvino-int8")) == native_bf16


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(AVX2_ONLY, "onnx-int8"), (VNNI_ONLY, "onnx-int8"), (BF16_NO_AMX, "openvino-int8"), (CPU_A, "torch-bf16")],
    ids=["avx2", "vnni", "bf16-no-amx", "amx"],
)
def test_auto_loads_what_it_chose(monkeypatch, exported, openvino_run, flags, expected) -> None:
    mock_cpu(monkeypatch, flags)
    encoder = Encoder.load(exported, backend="auto")
    assert encoder.backend.name == expected and encoder.backend.reason
    assert encoder.info()["backend"] == expected


def test_info_backends_prints_features_and_choice() -> None:
    result = CliRunner().invoke(app, ["info", "--backends"])
    assert result.exit_code == 0, result.output
    assert "Features" in result.output and "auto chooses" in result.output


# ---- token-budget batching ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=300), max_size=60),
    st.integers(min_value=1, max_value=40),
    st.none() | st.integers(min_value=1, max_value=2000),
)
def test_batches_cover_every_index_once_within_budget(lengths, batch_size, max_tokens) -> None:
    batches = length_sorted_batches(lengths, batch_size, max_tokens)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths, reverse=True)
    for batch in batches:
        assert 1 <= len(batch) <= batch_size
        if max_tokens is not None and len(batch) > 1:
            assert len(batch) * max(lengths[i] for i in batch) <= max_tokens


def test_auto_falls_back_when_the_model_cannot_be_exported(monkeypatch) -> None:
    mock_cpu(monkeypatch, VNNI_ONLY)
    encoder = Encoder.load("minilm", pooling="cls_attention", backend="auto")
    assert encoder.backend.name == "torch" and "cls_attention" in encoder.backend.reason


def test_auto_gives_bf16_without_amx_a_model_onnx_refuses(monkeypatch) -> None:
    mock_cpu(monkeypatch, BF16_NO_AMX)
    encoder = Encoder.load("minilm", pooling="cls_attention", backend="auto")
    assert encoder.backend.name == "torch-bf16" and "avx512_bf16" in encoder.backend.reason
    assert "cls_attention" in encoder.backend.reason  # openvino-int8 first, refused before any export


def test_auto_without_openvino_keeps_bf16_where_openvino_would_win(monkeypatch) -> None:
    mock_cpu(monkeypatch, BF16_NO_AMX)
    monkeypatch.setattr(backends, "installed", lambda module: module not in ("openvino", "nncf"))
    encoder = Encoder.load("minilm", backend="auto")
    assert encoder.backend.name == "torch-bf16" and "embedlab[openvino]" in encoder.backend.reason


def test_graph_backends_refuse_a_batch_that_must_pool_without_its_prompt(openvino_minilm, onnx_minilm) -> None:
    """A graph pools every token it is given; a prompt to skip is refused in one line, not pooled in silently."""
    check_graph_prompt("onnx", 0)
    features = onnx_minilm.tokenize(["query: a text"])
    for encoder in (onnx_minilm, openvino_minilm):
        with pytest.raises(EmbedlabError, match=f"backend {encoder.backend.name} cannot pool without the prompt"):
            encoder.backend.embed(encoder.model, features, 3)
        with pytest.raises(EmbedlabError, match="cannot pool without the prompt"):
            list(encoder.backend.embed_batches(encoder.model, [features, features], 3))
