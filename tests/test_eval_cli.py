"""`embedlab eval ...`, the suite and `embedlab diagnose` on a tiny data root built in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedlab.cli.app import app
from embedlab.evaluation.suite import discover_tasks, run_suite, suite_markdown
from tests.files import write_jsonl, write_tiny_beir

runner = CliRunner()

STS_ROWS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A woman is slicing an onion.", "Someone is cutting an onion.", 4.2),
    ("A dog runs in the park.", "The stock market fell today.", 0.1),
    ("Kids are playing football.", "Children play soccer outside.", 4.0),
    ("The sun is shining.", "It is raining heavily.", 1.0),
    ("A cat sleeps on a sofa.", "A plane takes off.", 0.0),
]
TOPICS = {
    "food": ["I love pasta with tomato sauce.", "This pizza is delicious.", "The soup tastes great."],
    "sport": ["He scored a goal in the match.", "The team won the championship.", "She runs a marathon."],
}



@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_jsonl(root / "sts/tiny/test.jsonl", [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in STS_ROWS])
    write_jsonl(
        root / "pairs/tiny/test.jsonl",
        [{"sentence1": a, "sentence2": b, "label": int(s > 3)} for a, b, s in STS_ROWS],
    )
    write_jsonl(
        root / "classification/tiny/test.jsonl",
        [{"text": t, "label": label} for label, texts in TOPICS.items() for t in texts for _ in range(2)],
    )
    beir = root / "beir/tiny"
    write_tiny_beir(beir)
    return root


def test_discovery_finds_every_task(tiny_root):
    found = {(t.task, t.dataset) for t in discover_tasks(tiny_root)}
    assert found == {
        ("sts", "tiny"), ("retrieval", "tiny"), ("reranking", "tiny"), ("pairs", "tiny"),
        ("clustering", "tiny"), ("classification", "tiny"),
    }


def test_suite_runs_every_task_and_reports_main_metrics(tiny_root, minilm):
    results = run_suite(minilm, discover_tasks(tiny_root))
    scores = {r.task: r.main_score for r in results}
    assert scores["retrieval"] == pytest.approx(1.0)  # both queries find their document first
    assert scores["sts"] > 0.7 and scores["pairs"] > 0.9 and scores["clustering"] > 0.9
    table = suite_markdown(results)
    assert table.count("\n") == 2 + len(results) and "| retrieval | tiny/test | ndcg@10 | 100.00 |" in table


def test_eval_sts_writes_json(tiny_root, tmp_path):
    out = tmp_path / "sts.json"
    result = runner.invoke(app, ["eval", "sts", "--data", str(tiny_root / "sts/tiny/test.jsonl"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["main_metric"] == "spearman" and 0 < saved["metrics"]["spearman"] <= 1
    assert "spearman" in result.output


def test_eval_commands_load_the_model_on_the_backend_asked_for(tiny_root, monkeypatch):
    from embedlab.models import loading

    asked, real = [], loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda name, backend: (asked.append(backend), real(name))[1])
    sts_file, beir = str(tiny_root / "sts/tiny/test.jsonl"), str(tiny_root / "beir/tiny")
    pairs_file = str(tiny_root / "pairs/tiny/test.jsonl")
    for args in (["sts", "-d", sts_file], ["retrieval", "-d", beir, "--no-cache"], ["pairs", "-d", pairs_file]):
        result = runner.invoke(app, ["eval", *args, "--backend", "openvino-int8"])
        assert result.exit_code == 0, result.output
    assert asked == ["openvino-int8"] * 3
    monkeypatch.setattr(loading, "load_model", real)
    result = runner.invoke(app, ["eval", "sts", "-d", sts_file, "--backend", "fast"])
    assert result.exit_code != 0 and "unknown backend 'fast'" in str(result.exception)


@pytest.mark.parametrize("model", ["minilm", "bm25"])
def test_eval_retrieval_cli(tiny_root, tmp_path, model):
    out = tmp_path / "r.json"
    args = ["eval", "retrieval", "-m", model, "-d", str(tiny_root / "beir/tiny"), "--json", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["ndcg@10"] == pytest.approx(1.0) and metrics["recall@100"] == 1.0


@pytest.mark.parametrize("command", ["pairs", "clustering", "classification"])
def test_eval_file_tasks_cli(tiny_root, command):
    data = {"pairs": "pairs", "clustering": "classification", "classification": "classification"}[command]
    args = ["eval", command, "-d", str(tiny_root / data / "tiny/test.jsonl")]
    if command == "classification":
        args += ["--folds", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert command in result.output


def test_eval_suite_cli_writes_json_and_markdown(tiny_root, tmp_path):
    result = runner.invoke(app, ["eval", "suite", "--root", str(tiny_root), "--out", str(tmp_path), "--only", "sts"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "suite.json").read_text())
    assert [r["task"] for r in saved] == ["sts"]
    assert "| sts | tiny/test | spearman |" in (tmp_path / "suite.md").read_text()


def test_diagnose_cli_prints_measures_and_writes_plots(tiny_root, tmp_path):
    args = [
        "diagnose",
        "-d",
        str(tiny_root / "sts/tiny/test.jsonl"),
        "--out",
        str(tmp_path),
        "--json",
        str(tmp_path / "d.json"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "anisotropy" in result.output and "granularity" in result.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "cosine_histogram.png",
        "pca_scatter.png",
        "singular_values.png",
    ]
    assert json.loads((tmp_path / "d.json").read_text())["n_texts"] == 12
