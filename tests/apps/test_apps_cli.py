"""`embedlab dedup` and `embedlab cluster`: files written, tables printed and one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedlab.cli.app import app
from tests.apps.test_cluster import TEXTS as TOPIC_TEXTS
from tests.apps.test_cluster import topic_encoder
from tests.apps.test_dedup import TEXTS, VECTORS
from tests.fakes import LookupEncoder
from tests.files import write_jsonl
from tests.test_cli import run_cli

runner = CliRunner()


@pytest.fixture
def fake_model(monkeypatch):
    """Make every --model load a LookupEncoder over the dedup and topic texts."""
    encoder = LookupEncoder({**VECTORS, **{t: v.tolist() for t, v in topic_encoder().table.items()}})
    monkeypatch.setattr("embedlab.models.loading.load_model", lambda name, **kwargs: encoder)
    return encoder


def test_dedup_jsonl_keeps_whole_rows_and_writes_a_report(tmp_path, fake_model):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "body": t} for i, t in enumerate(TEXTS)])
    out, report = tmp_path / "kept.jsonl", tmp_path / "report.json"
    args = ["dedup", str(source), "--out", str(out), "--report", str(report), "--field", "body", "--threshold", "0.9"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [0, 2, 5]
    assert json.loads(report.read_text())["counts"]["removed"] == 3
    assert "largest groups" in result.output and "The cat sat on the mat." in result.output


def test_dedup_txt_with_hnsw(tmp_path, fake_model):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TEXTS) + "\n")
    result = runner.invoke(app, ["dedup", str(source), "-o", str(tmp_path / "kept.txt"), "--store", "faiss-hnsw"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kept.txt").read_text().splitlines() == [TEXTS[0], TEXTS[2], TEXTS[5]]


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "community"])
def test_cluster_writes_assignments_and_a_map(tmp_path, fake_model, method):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(TOPIC_TEXTS) + "\n")
    out, plot = tmp_path / "clusters.csv", tmp_path / "map.png"
    args = ["cluster", str(source), "--out", str(out), "--method", method, "--threshold", "0.8", "--plot", str(plot)]
    result = runner.invoke(app, args + (["--k", "3"] if method == "kmeans" else []))
    assert result.exit_code == 0, result.output
    assert "3 clusters of 12 texts" in result.output and "stock" in result.output
    assert out.read_text().splitlines()[0] == "row,cluster,text" and plot.stat().st_size > 1000


def test_dedup_with_the_real_model(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("A man is playing a guitar.\nA man plays the guitar.\nThe stock market fell today.\n")
    result = runner.invoke(app, ["dedup", str(source), "--out", str(tmp_path / "kept.txt"), "--threshold", "0.8"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kept.txt").read_text() == "A man is playing a guitar.\nThe stock market fell today.\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["dedup", "missing.txt", "--out", "x.txt"], "error: no input file at missing.txt"),
        (["dedup", "missing.txt", "--out", "x.txt", "--threshold", "2"], "error: threshold must be a cosine"),
        (["cluster", "missing.txt", "--out", "x.txt"], "error: assignments go to a .jsonl or .csv file, not x.txt"),
    ],
)
def test_errors_are_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 1 and result.stderr.strip().startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
