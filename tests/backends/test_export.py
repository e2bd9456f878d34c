"""Graph export (ONNX, OpenVINO static int8): parity with torch, the int8 agreement bound, the manifest, and
refusing stale graphs."""

from __future__ import annotations

import json
import shutil
import sys
from functools import partial

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.backends import check_backend_device
from embedlab.backends.export import (
    FP32_MAX_DIFF,
    GRAPH_DIR,
    INT8_MIN_MEAN_COSINE,
    INT8_MIN_WORST_COSINE,
)
from embedlab.backends.manifest import MANIFEST, weights_sha256
from embedlab.backends.static_int8 import CALIBRATION_FILE, OPENVINO_INT8_FILE, calibration_texts
from embedlab.cli.app import app
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.extras import MissingExtra
from embedlab.models.export import export_model
from embedlab.models.token_batches import length_sorted_batches, pad_encodings

TEXTS = [
    "A man is playing a guitar.",
    "",
    "The new vaccine reduced hospital admissions by a third in older adults.",
    "guitar",
    " ".join(["a long text that the model truncates"] * 60),
]


def test_export_writes_both_graphs_and_a_manifest(export_run) -> None:
    out, reports = export_run
    assert [r.backend for r in reports] == ["onnx", "onnx-int8"]
    assert (out / GRAPH_DIR / "model.onnx").is_file() and (out / GRAPH_DIR / "model_qint8.onnx").is_file()
    assert (out / "modules.json").is_file()  # still a sentence-transformers directory
    manifest = json.loads((out / GRAPH_DIR / MANIFEST).read_text())
    assert manifest["weights_sha256"] == weights_sha256(out)
    # The OpenVINO tests may have added their model to the same folder first.
    assert set(manifest["graphs"]) - {OPENVINO_INT8_FILE} == {"model.onnx", "model_qint8.onnx"}
    assert manifest["graphs"]["model.onnx"]["max_abs_diff"] < FP32_MAX_DIFF


def test_fp32_graph_matches_torch(minilm, onnx_minilm) -> None:
    with pytest.warns(UserWarning, match="truncated"):
        ours = onnx_minilm.encode(TEXTS)
    with pytest.warns(UserWarning, match="truncated"):
        reference = minilm.encode(TEXTS)
    assert np.abs(ours - reference).max() < FP32_MAX_DIFF
    assert onnx_minilm.info()["backend"] == "onnx"


def test_int8_graph_agrees_within_the_bound(minilm, int8_minilm, export_run) -> None:
    texts = TEXTS[:4] + ["Two dogs run across a snowy field.", "Interest rates rose again this quarter."]
    cosines = np.sum(int8_minilm.encode(texts) * minilm.encode(texts), axis=1)[[0, 2, 3, 4, 5]]
    assert cosines.mean() >= INT8_MIN_MEAN_COSINE and cosines.min() >= INT8_MIN_WORST_COSINE
    report = export_run[1][1]
    assert report.mean_cosine >= INT8_MIN_MEAN_COSINE and report.worst_cosine >= INT8_MIN_WORST_COSINE


@pytest.mark.parametrize("backend", ["onnx", "openvino-int8"])
def test_a_graph_from_changed_weights_is_refused(request, exported, tmp_path, backend) -> None:
    if backend == "openvino-int8":
        request.getfixturevalue("openvino_run")  # its graph exported beside the ONNX ones first
    copy = tmp_path / "changed"
    shutil.copytree(exported, copy)
    weights = load_file(copy / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01
    save_file(weights, copy / "model.safetensors")
    with pytest.raises(ModelLoadError, match="exported from other weights"):
        Encoder.load(copy, backend=backend)
    Encoder.load(copy, backend="torch")  # the weights themselves load fine


def test_a_graph_with_other_pooling_is_refused(exported) -> None:
    with pytest.raises(ModelLoadError, match="pools with 'mean'"):
        Encoder.load(exported, pooling="cls", backend="onnx")


def test_a_foreign_graph_without_manifest_is_not_used(exported, tmp_path, minilm) -> None:
    copy = tmp_path / "foreign"
    shutil.copytree(exported, copy)
    (copy / GRAPH_DIR / MANIFEST).unlink()
    (copy / GRAPH_DIR / "model.onnx").write_bytes(b"not a graph")
    encoder = Encoder.load(copy, backend="onnx")  # exported afresh into the cache
    assert encoder.backend.graph.parent != copy / GRAPH_DIR
    assert np.abs(encoder.encode(TEXTS[:2]) - minilm.encode(TEXTS[:2])).max() < FP32_MAX_DIFF


def test_export_refuses_what_the_graph_cannot_express(tmp_path) -> None:
    with pytest.raises(EmbedlabError, match="choose backend onnx, onnx-int8, openvino-int8, not 'torch'"):
        export_model("minilm", tmp_path / "m", "torch")
    with pytest.raises(EmbedlabError, match="cls_attention"):
        Encoder.load("minilm", pooling="cls_attention", backend="onnx")


def test_export_cli_errors_are_one_line(tmp_path) -> None:
    result = CliRunner().invoke(app, ["export", "minilm", "--out", str(tmp_path / "m"), "--backend", "bf16"])
    assert result.exit_code != 0
    assert isinstance(result.exception, EmbedlabError)
    assert "\n" not in str(result.exception)


# ---- static int8 with OpenVINO --------------------------------------------------------------------


def test_openvino_int8_agrees_within_the_bound_and_is_recorded(minilm, openvino_minilm, openvino_run, exported):
    texts = TEXTS[:4] + ["Two dogs run across a snowy field.", "How do you do that?", "ok thanks"]
    cosines = np.sum(openvino_minilm.encode(texts) * minilm.encode(texts), axis=1)[[0, 2, 3, 4, 5, 6]]
    assert cosines.mean() >= INT8_MIN_MEAN_COSINE and cosines.min() >= INT8_MIN_WORST_COSINE
    assert openvino_run.backend == "openvino-int8" and openvino_run.path == exported / GRAPH_DIR / OPENVINO_INT8_FILE
    assert openvino_run.path.is_file() and openvino_run.path.with_suffix(".bin").is_file()
    assert not [p for p in (exported / GRAPH_DIR).iterdir() if p.name.startswith(".")]  # no staging left behind
    entry = json.loads((exported / GRAPH_DIR / MANIFEST).read_text())["graphs"][OPENVINO_INT8_FILE]
    assert entry["calibration_texts"] == len(calibration_texts()) and entry["worst_cosine"] >= INT8_MIN_WORST_COSINE
    assert openvino_minilm.backend.graph == openvino_run.path  # the model directory's own, not a cached copy
    assert openvino_minilm.info()["backend"] == "openvino-int8"


def test_openvino_int8_keeps_order_shapes_and_options(minilm, openvino_minilm) -> None:
    assert openvino_minilm.encode("one text").shape == (384,)
    assert openvino_minilm.encode([]).shape == (0, 384)
    forward, backward = openvino_minilm.encode(TEXTS[:4]), openvino_minilm.encode(TEXTS[:4][::-1])
    assert np.abs(forward - backward[::-1]).max() < 1e-5
    short = openvino_minilm.encode(TEXTS[:4], dim=64)
    assert short.shape == (4, 64) and np.allclose(np.linalg.norm(short, axis=1)[[0, 2, 3]], 1.0, atol=1e-5)
    raw = openvino_minilm.encode(TEXTS[:1], normalize=False)
    assert abs(np.linalg.norm(raw) - np.linalg.norm(minilm.encode(TEXTS[:1], normalize=False))) < 0.1


def test_a_corrupt_openvino_model_is_one_line(exported, openvino_run, tmp_path) -> None:
    copy = tmp_path / "corrupt"
    shutil.copytree(exported, copy)
    (copy / GRAPH_DIR / OPENVINO_INT8_FILE).write_text("<net>broken")
    with pytest.raises(ModelLoadError, match="OpenVINO cannot load") as err:
        Encoder.load(copy, backend="openvino-int8")
    assert "\n" not in str(err.value)


def test_calibration_texts_are_many_and_of_many_kinds() -> None:
    texts = calibration_texts()
    assert len(texts) >= 200 and len(set(texts)) == len(texts) and CALIBRATION_FILE.endswith(".txt")
    lengths = sorted(len(t.split()) for t in texts)
    assert lengths[0] <= 3 and lengths[-1] >= 60  # single words to long run-ons: ranges need both
    assert any(not t.isascii() for t in texts) and any("?" in t for t in texts)
    assert calibration_texts(10) == texts[:10]


def test_openvino_int8_is_cpu_only_and_refuses_what_the_graph_cannot_express(monkeypatch) -> None:
    with pytest.raises(EmbedlabError, match="cls_attention"):
        Encoder.load("minilm", pooling="cls_attention", backend="openvino-int8")
    with pytest.raises(EmbedlabError, match="runs on the CPU"):
        check_backend_device("openvino-int8", torch.device("cuda"))
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if not installed
    with pytest.raises(MissingExtra, match=r"pip install 'embedlab\[openvino\]'"):
        Encoder.load("minilm", backend="openvino-int8")


def test_openvino_int8_serves_threads_at_once_like_one_at_a_time(openvino_minilm) -> None:
    """The server's inference workers call one backend from several threads; each gets its own request."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [[f"text {i} about topic {j}" for j in range(i + 1)] for i in range(8)]
    alone = [openvino_minilm.encode(batch) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(openvino_minilm.encode, batches * 3))
        # batch_size 2: every thread keeps several batches in flight on the throughput streams at once.
        pipelined = list(pool.map(partial(openvino_minilm.encode, batch_size=2), batches * 3))
    for i, (found, streamed) in enumerate(zip(together, pipelined, strict=True)):
        assert np.abs(found - alone[i % len(batches)]).max() < 1e-6
        assert np.abs(streamed - alone[i % len(batches)]).max() < 1e-5


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=12),
    batch_size=st.integers(1, 5),
)
def test_openvino_int8_any_batching_gives_each_text_its_own_vector(openvino_minilm, lengths, batch_size) -> None:
    """Batches in flight on the streams give what the one-stream model gives the same batches, each in its place."""
    texts = [" ".join(f"w{(i * 7 + j) % 50}" for j in range(n)) for i, n in enumerate(lengths)]
    encoder = openvino_minilm
    encodings = encoder._encodings(texts)
    one_stream = np.zeros((len(texts), 384), dtype=np.float32)
    for batch in length_sorted_batches([len(e.ids) for e in encodings], batch_size):
        features = pad_encodings([encodings[i] for i in batch], encoder._pad_id, encoder.model.token_type_ids)
        one_stream[batch] = encoder.backend.embed(encoder.model, features, 0).numpy()
    streamed = openvino_minilm.encode(texts, batch_size=batch_size, normalize=False)
    assert np.abs(streamed - one_stream).max() <= 1e-5 * np.abs(one_stream).max()
    alone = np.stack([openvino_minilm.encode(text) for text in texts])  # padding moves int8 results a little
    assert np.sum(alone * openvino_minilm.encode(texts, batch_size=batch_size), axis=1).min() > 0.999


def test_openvino_int8_batches_in_flight_come_back_in_order(openvino_minilm) -> None:
    texts = [" ".join(["word"] * (1 + (7 * i) % 23)) + f" number {i}" for i in range(17)]
    one_by_one = np.stack([openvino_minilm.encode(text) for text in texts])  # a lone batch: the latency model
    assert np.abs(openvino_minilm.encode(texts, batch_size=3) - one_by_one).max() < 1e-5
    backend, model = openvino_minilm.backend, openvino_minilm.model
    assert backend._streamed is not None  # six batches went through the throughput compilation
    batches = [openvino_minilm.tokenize(texts[i : i + 3]) for i in range(0, len(texts), 3)]
    first = backend.embed_batches(model, iter(batches), 0)
    next(first)
    first.close()  # a caller that stops early leaves no request running for the next call to trip over
    again = torch.cat(list(backend.embed_batches(model, batches, 0)))
    assert np.abs(again.numpy() - openvino_minilm.encode(texts, batch_size=3, normalize=False)).max() < 1e-5
    assert list(backend.embed_batches(model, [], 0)) == []
