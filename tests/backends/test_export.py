"""ONNX export: parity with torch, the int8 agreement bound, the manifest, and refusing stale graphs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.backends.export import (
    FP32_MAX_DIFF,
    GRAPH_DIR,
    INT8_MIN_MEAN_COSINE,
    INT8_MIN_WORST_COSINE,
)
from embedlab.backends.manifest import MANIFEST, weights_sha256
from embedlab.cli.app import app
from embedlab.errors import EmbedlabError, ModelLoadError
from embedlab.models.export import export_model

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
    assert set(manifest["graphs"]) == {"model.onnx", "model_qint8.onnx"}
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


def test_a_graph_from_changed_weights_is_refused(exported, tmp_path) -> None:
    copy = tmp_path / "changed"
    shutil.copytree(exported, copy)
    weights = load_file(copy / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01
    save_file(weights, copy / "model.safetensors")
    with pytest.raises(ModelLoadError, match="exported from other weights"):
        Encoder.load(copy, backend="onnx")
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
    with pytest.raises(EmbedlabError, match="torch or onnx-int8|onnx or onnx-int8"):
        export_model("minilm", tmp_path / "m", "torch")
    with pytest.raises(EmbedlabError, match="cls_attention"):
        Encoder.load("minilm", pooling="cls_attention", backend="onnx")


def test_export_cli_errors_are_one_line(tmp_path) -> None:
    result = CliRunner().invoke(app, ["export", "minilm", "--out", str(tmp_path / "m"), "--backend", "bf16"])
    assert result.exit_code != 0
    assert isinstance(result.exception, EmbedlabError)
    assert "\n" not in str(result.exception)
