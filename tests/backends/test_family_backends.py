"""Every backend on every architecture family: it agrees with fp32 torch as on MiniLM, or refuses in one line,
and `auto` never picks a backend the loaded model cannot run.

The models are tests/model_families.py's tiny random sentence-transformers directories (one per architecture;
the variants that differ only in pooling or prompts add nothing here). Run with -rP for the figures per family.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab import Encoder, backends
from embedlab.backends import ONNX_BACKENDS, load_backend
from embedlab.backends.export import FP32_MAX_DIFF, INT8_MIN_MEAN_COSINE, INT8_MIN_WORST_COSINE
from embedlab.backends.manifest import MANIFEST, encoder_weights_sha256
from embedlab.errors import EmbedlabError
from embedlab.hardware import FEATURES, cpu_info
from tests.backends.conftest import running_on

pytest.importorskip("sentence_transformers")  # it writes the family directories
pytest.importorskip("onnxruntime")
from tests.model_families import FAMILIES  # after the skips: it needs sentence-transformers

TEXTS = [
    "",
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "Ünïcödé façade, naïve café — 東京の天気は晴れです 🙂🚀 Привет, мир!",
    " ".join(["sentence embeddings map a text to a vector"] * 12),  # past the fixtures' MAX_SEQ_LENGTH
    "Question: how many legs does a spider have?",
    "北京是中国的首都。",
    "numbers 42 3.14159 2026-12-03",
]
TESTED = [
    "bert_labse", "distilbert_mean", "mpnet_mean", "xlmr_e5", "deberta_v2_mean", "modernbert_gte", "t5_gtr",
    "qwen3_lasttoken", "gemma3_embedding",
]  # fmt: skip
# EmbeddingGemma's bidirectional masks go through torch.vmap, which the ONNX exporter cannot trace.
ONNX_REFUSED = {"gemma3_embedding": "bidirectional attention"}
# Random T5 weights (initializer_factor 4) make the gated FFN's products large: int8 lands on either side of its
# bound depending on the trained tokenizer, and bf16 stays within 0.98 instead of MiniLM's 0.99 per text.
INT8_MAY_MISS = {"t5_gtr"}
# An int8 graph such a family's export accepts meets the bound on the export's texts; on these, with weights that
# saturate 16-bit sums on CPUs without VNNI, its worst text may fall a little short of it.
MAY_MISS_WORST_COSINE = 0.9
BF16_WORST_COSINE = {"t5_gtr": 0.98}
MINILM_BF16_WORST_COSINE = 0.99  # tests/backends/test_backends.py's bound for MiniLM
NATIVE_BF16 = frozenset({"avx2", "fma", "avx512f", "avx512_bf16"})  # no AMX, no VNNI
AVX2_ONLY = frozenset({"avx2", "fma"})
VNNI_ONLY = frozenset({"avx2", "fma", "avx512f", "avx512_vnni"})
VNNI_BF16 = VNNI_ONLY | {"avx512_bf16"}


def mock_cpu(monkeypatch, flags: frozenset[str]) -> None:
    monkeypatch.setattr(backends, "cpu_info", lambda: cpu_info(model="Mocked CPU", flags=flags))


def cosines(candidate: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-text cosine of unit vectors; a zero reference (nothing to compare) counts as agreeing."""
    return np.where(np.linalg.norm(reference, axis=1) > 0, np.sum(candidate * reference, axis=1), 1.0)


def encode(encoder: Encoder) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the over-long text's truncation warning
        return encoder.encode(TEXTS, batch_size=3, normalize=True)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert message and "\n" not in message
    return message


@pytest.fixture(scope="module", params=TESTED)
def family(request, tmp_path_factory) -> tuple[str, Encoder, np.ndarray]:
    """(name, fp32 torch encoder, its unit vectors of TEXTS) for one family's tiny model."""
    name = request.param
    encoder = Encoder.load(FAMILIES[name](tmp_path_factory.mktemp("families") / name), device="cpu")
    return name, encoder, encode(encoder)


def test_bf16_agrees_like_minilm(monkeypatch, family) -> None:
    name, encoder, reference = family
    mock_cpu(monkeypatch, NATIVE_BF16)
    with running_on(encoder, load_backend(encoder, "torch-bf16")):
        found = cosines(encode(encoder), reference)
    print(f"{name:18s} torch-bf16 cosine mean {found.mean():.5f} worst {found.min():.5f}")
    assert found.min() > BF16_WORST_COSINE.get(name, MINILM_BF16_WORST_COSINE)


def test_bf16_is_still_refused_without_native_bf16(monkeypatch, family) -> None:
    mock_cpu(monkeypatch, VNNI_ONLY)
    with pytest.raises(EmbedlabError) as err:
        load_backend(family[1], "torch-bf16")
    assert "native bf16" in one_line(err)


def test_onnx_agrees_like_minilm_or_refuses(family) -> None:
    """fp32 to FP32_MAX_DIFF and int8 to the export's cosine bound on these texts too, or a one-line refusal
    that comes before any export."""
    name, encoder, reference = family
    if name in ONNX_REFUSED:
        for backend in ONNX_BACKENDS:
            with pytest.raises(EmbedlabError) as err:
                load_backend(encoder, backend)
            assert ONNX_REFUSED[name] in one_line(err) and "use backend torch" in one_line(err)
        return
    with running_on(encoder, load_backend(encoder, "onnx")):
        diff = float(np.abs(encode(encoder) - reference).max())
    print(f"{name:18s} onnx       max |diff| {diff:.2e}")
    assert diff <= FP32_MAX_DIFF
    check_int8_agrees_or_misses_its_bound(family, "onnx-int8")


def test_openvino_int8_agrees_like_minilm_or_refuses(family) -> None:
    """Static int8 within the export's cosine bound on these texts too, or a one-line refusal."""
    pytest.importorskip("nncf")
    name, encoder, _ = family
    if name in ONNX_REFUSED:
        with pytest.raises(EmbedlabError) as err:
            load_backend(encoder, "openvino-int8")
        assert ONNX_REFUSED[name] in one_line(err)
        return
    check_int8_agrees_or_misses_its_bound(family, "openvino-int8")


def check_int8_agrees_or_misses_its_bound(family: tuple[str, Encoder, np.ndarray], backend: str) -> None:
    """The int8 backend within the export's cosine bound, or refused at export for a family allowed to miss it."""
    name, encoder, reference = family
    try:
        int8 = load_backend(encoder, backend)
    except EmbedlabError as err:
        assert name in INT8_MAY_MISS, f"{name}: {err}"
        assert f"{backend} graph agrees" in str(err) and "\n" not in str(err)
        print(f"{name:18s} {backend:13s} refused: {err}")
        return
    with running_on(encoder, int8):
        found = cosines(encode(encoder), reference)
    print(f"{name:18s} {backend:13s} cosine mean {found.mean():.5f} worst {found.min():.5f}")
    assert found.mean() >= INT8_MIN_MEAN_COSINE and found.min() >= worst_int8_cosine(name)


def worst_int8_cosine(name: str) -> float:
    return MAY_MISS_WORST_COSINE if name in INT8_MAY_MISS else INT8_MIN_WORST_COSINE


@pytest.mark.parametrize("flags", [AVX2_ONLY, VNNI_ONLY, VNNI_BF16], ids=["avx2", "vnni", "vnni+bf16"])
def test_auto_runs_what_the_model_supports(monkeypatch, family, flags) -> None:
    """Auto lands on a backend that runs this model, and says why: static int8 OpenVINO where the CPU has native
    bf16 and VNNI (bf16 for a model it refuses; every family runs bf16), else int8 ONNX (with VNNI or AVX2 alone),
    or torch for a model the ONNX backends refuse."""
    name, encoder, reference = family
    mock_cpu(monkeypatch, flags)
    backend = load_backend(encoder, "auto")
    assert backend.reason and "\n" not in backend.reason
    if "avx512_bf16" in flags:
        refused = name in ONNX_REFUSED or name in INT8_MAY_MISS
        assert backend.name in (("openvino-int8", "torch-bf16") if refused else ("openvino-int8",))
    elif name in ONNX_REFUSED:
        assert backend.name == "torch"
        assert ONNX_REFUSED[name] in backend.reason
    else:
        assert backend.name in (("onnx-int8", "onnx") if name in INT8_MAY_MISS else ("onnx-int8",))
    with running_on(encoder, backend):
        assert cosines(encode(encoder), reference).min() >= worst_int8_cosine(name)


@settings(max_examples=40, deadline=None)
@given(st.sets(st.sampled_from(FEATURES)))
def test_auto_never_picks_onnx_for_a_model_it_refuses(gemma, flags) -> None:
    """Whatever the CPU, a model the ONNX backends refuse gets a torch backend native to that CPU."""
    cpu = cpu_info(model="Mocked CPU", flags=frozenset(flags))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backends, "cpu_info", lambda: cpu)
        backend = load_backend(gemma, "auto")
    assert backend.name in ("torch", "torch-bf16")
    assert backend.name == "torch" or cpu.avx512_bf16 or cpu.amx_bf16
    assert "\n" not in backend.reason


@pytest.fixture(scope="module")
def gemma(tmp_path_factory) -> Encoder:
    return Encoder.load(FAMILIES["gemma3_embedding"](tmp_path_factory.mktemp("gemma") / "gemma"), device="cpu")


def test_fp16_is_refused_where_the_family_overflows_it(monkeypatch, gemma, family) -> None:
    """Gemma 3 overflows float16: torch-fp16 is refused on a GPU, and auto on a GPU without bf16 runs fp32."""
    monkeypatch.setattr(backends, "gpu_has_bf16", lambda: False)
    on_gpu = SimpleNamespace(model=gemma.model, device=torch.device("cuda", 0))
    with pytest.raises(EmbedlabError) as err:
        load_backend(on_gpu, "torch-fp16")
    assert "overflow float16" in one_line(err)
    backend = load_backend(on_gpu, "auto")
    assert backend.name == "torch" and "overflow float16" in backend.reason
    other = SimpleNamespace(model=family[1].model, device=torch.device("cuda", 0))
    if family[0] != "gemma3_embedding":  # every other family keeps fp16 on such a GPU
        assert load_backend(other, "auto").name == "torch-fp16"


def test_graphs_are_keyed_by_the_head_modules_too(tmp_path) -> None:
    """BGE-like and LaBSE-like models share a transformer and pooling but not the Dense head: each gets its own
    graph (one keyed by the transformer alone gave LaBSE BGE's vectors), and so does a changed activation."""
    bge = Encoder.load(FAMILIES["bert_bge"](tmp_path / "bge"), device="cpu")
    labse_dir = FAMILIES["bert_labse"](tmp_path / "labse")
    labse = Encoder.load(labse_dir, device="cpu")
    assert (bge.weights_dir / "model.safetensors").read_bytes() == (labse_dir / "model.safetensors").read_bytes()
    assert encoder_weights_sha256(bge) != encoder_weights_sha256(labse)
    for encoder in (bge, labse):
        reference = encode(encoder)
        with running_on(encoder, load_backend(encoder, "onnx")):
            assert np.abs(encode(encoder) - reference).max() <= FP32_MAX_DIFF
    identity_dir = tmp_path / "labse-identity"
    shutil.copytree(labse_dir, identity_dir)
    dense = next(identity_dir.glob("*_Dense"))
    config = json.loads((dense / "config.json").read_text())
    config["activation_function"] = "torch.nn.modules.linear.Identity"
    (dense / "config.json").write_text(json.dumps(config))
    identity = Encoder.load(identity_dir, device="cpu")
    assert encoder_weights_sha256(identity) != encoder_weights_sha256(labse)
    reference = encode(identity)
    with running_on(identity, load_backend(identity, "onnx")):
        assert np.abs(encode(identity) - reference).max() <= FP32_MAX_DIFF


def test_a_model_without_head_keeps_its_graph_key(minilm) -> None:
    """Graphs exported before head modules counted stay valid: without a head the key is the transformer's."""
    from embedlab.backends.manifest import weights_sha256

    assert encoder_weights_sha256(minilm) == weights_sha256(Path(minilm.weights_dir))


def test_an_unlisted_architecture_is_exported_unfused_and_validated(monkeypatch, tmp_path) -> None:
    """ONNX Runtime's BERT fusions run only on the families they were checked on; any other graph stays as traced."""
    from embedlab.backends import support
    from embedlab.backends.export import export_onnx

    encoder = Encoder.load(FAMILIES["distilbert_mean"](tmp_path / "distilbert"), device="cpu")
    monkeypatch.setattr(support, "BERT_FUSED_FAMILIES", frozenset())
    (report,) = export_onnx(encoder, tmp_path / "graphs", int8=False)
    assert report.max_abs_diff <= FP32_MAX_DIFF
    manifest = json.loads((tmp_path / "graphs" / MANIFEST).read_text())
    assert manifest["graphs"]["model.onnx"]["fusion"] is None


def test_a_model_the_exporter_cannot_trace_is_one_line_and_auto_falls_back(monkeypatch, minilm, tmp_path) -> None:
    """Whatever an unknown architecture makes the tracer raise becomes one line, and auto moves on to torch."""

    def fail(*args, **kwargs):
        raise RuntimeError("unordered_map::at\n  deep in the tracer")

    monkeypatch.setattr(torch.onnx, "export", fail)
    monkeypatch.setenv("EMBEDLAB_ONNX_CACHE", str(tmp_path))  # no graph of MiniLM cached yet
    with pytest.raises(EmbedlabError) as err:
        load_backend(minilm, "onnx")
    assert "cannot trace bert: unordered_map::at" in one_line(err)
    assert not list(tmp_path.rglob("*.onnx"))  # nothing half-written
    mock_cpu(monkeypatch, VNNI_ONLY)
    backend = load_backend(minilm, "auto")
    assert backend.name == "torch" and "cannot trace" in backend.reason


def test_an_exported_dense_model_uses_its_own_graph_until_its_head_changes(tmp_path) -> None:
    """`embedlab export` of a LaBSE-like model: loading uses the directory's graph; new Dense weights make it stale."""
    from safetensors.torch import load_file, save_file

    from embedlab.errors import ModelLoadError
    from embedlab.models.export import export_model

    out = tmp_path / "exported"
    export_model(str(FAMILIES["bert_labse"](tmp_path / "labse")), out, "onnx")
    encoder = Encoder.load(out, device="cpu", backend="onnx")
    assert encoder.backend.graph == out / "onnx" / "model.onnx"
    weights = next(out.glob("*_Dense")) / "model.safetensors"
    state = load_file(weights)
    save_file({name: -tensor for name, tensor in state.items()}, weights)
    with pytest.raises(ModelLoadError) as err:
        Encoder.load(out, device="cpu", backend="onnx")
    assert "exported from other weights" in one_line(err)
