"""A query task reaches the model from every consumer: evaluators, mining and the command line; documents never."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from embedlab import Encoder
from embedlab.cli.app import app
from embedlab.errors import EmbedlabError
from embedlab.evaluation.reranking import evaluate_reranking
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
from embedlab.mining import MiningConfig, MiningTask, mine
from tests.fakes import HashingEncoder
from tests.test_retrieval import DOCS, QUERIES, write_beir

TASK = "Given a claim, find documents that refute it"
PROMPT = f"Instruct: {TASK}\nQuery: "
runner = CliRunner()


@pytest.fixture
def beir(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_CACHE", str(tmp_path / "cache"))
    return write_beir(tmp_path / "tiny")


def split_calls(model: HashingEncoder) -> tuple[list[str], list[str]]:
    """The texts the model encoded with the instruction, and those it encoded without."""
    texts = [text for call in model.calls for text in call]
    return [t for t in texts if t.startswith(PROMPT)], [t for t in texts if not t.startswith("Instruct:")]


def test_retrieval_gives_the_task_to_queries_only_and_reports_it(beir) -> None:
    model = HashingEncoder()
    result = evaluate_retrieval(model, beir, RetrievalConfig(task=TASK, hybrid=True))
    instructed, plain = split_calls(model)
    judged = [text for qid, text in QUERIES.items() if qid != "q4"]
    assert sorted(instructed) == sorted(PROMPT + q for q in judged)
    assert sorted(plain) == sorted(text for _, text in DOCS.values())
    assert result.settings["prompts"] == {"query": PROMPT, "document": ""}
    untasked = evaluate_retrieval(HashingEncoder(), beir, RetrievalConfig(use_cache=False))
    assert untasked.settings["prompts"]["query"] == ""


def test_reranking_gives_the_task_to_queries_only(beir) -> None:
    model = HashingEncoder()
    result = evaluate_reranking(model, beir, top_n=3, task=TASK)
    instructed, plain = split_calls(model)
    assert instructed and all(q.removeprefix(PROMPT) in QUERIES.values() for q in instructed)
    assert plain and all(text in [t for _, t in DOCS.values()] for text in plain)
    assert result.settings["prompts"]["query"] == PROMPT


@pytest.mark.parametrize("task", ["", "   ", 7])
def test_a_bad_task_is_refused_before_any_encoding(task) -> None:
    with pytest.raises(EmbedlabError, match="instruction task must be a non-blank string"):
        RetrievalConfig(task=task)
    with pytest.raises(EmbedlabError, match="instruction task must be a non-blank string"):
        MiningConfig(source="dense", query_task=task)


def test_bm25_takes_no_task(beir) -> None:
    with pytest.raises(EmbedlabError, match="bm25 takes none"):
        evaluate_retrieval("bm25", beir, RetrievalConfig(task=TASK))
    with pytest.raises(EmbedlabError, match="query task is for the sources dense and same_document"):
        MiningConfig(source="bm25", query_task=TASK)


@pytest.mark.parametrize("source", ["dense", "same_document"])
def test_mining_gives_the_task_to_anchors_only(source: str) -> None:
    pool = ["a cat sits on the mat", "stocks fell today", "kittens sleep on rugs", "bond yields rose"]
    task = MiningTask("tiny", ["where do cats sit", "market news"], [0, 1], pool, [frozenset({0}), frozenset({1})])
    model = HashingEncoder()
    config = MiningConfig(source=source, count=1, window=(1, 4), margin=None, use_cache=False, query_task=TASK)
    mine(task, config, model)
    instructed, plain = split_calls(model)
    assert sorted(instructed) == sorted(PROMPT + anchor for anchor in task.anchors)
    assert plain and not any(text in task.anchors for text in plain)


@pytest.fixture
def tiny_dir(tiny_encoder: Encoder, tmp_path):
    return tiny_encoder.save(tmp_path / "tiny-model")


def test_encode_cli_with_a_task_encodes_queries_with_the_instruction(tiny_dir, tmp_path) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("first query\nsecond query\n")
    out = tmp_path / "q.npy"
    args = ["encode", "-i", str(source), "-o", str(out), "-m", str(tiny_dir), "--task", TASK]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    model = Encoder.load(tiny_dir, device="cpu")
    expected = model.encode_queries(["first query", "second query"], task=TASK)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6)
    both = runner.invoke(app, [*args, "--prompt", "query: "])
    assert isinstance(both.exception, EmbedlabError) and "not both" in str(both.exception)


def test_eval_retrieval_cli_takes_a_task(tiny_dir, beir, tmp_path) -> None:
    report = tmp_path / "r.json"
    result = runner.invoke(
        app, ["eval", "retrieval", "-m", str(tiny_dir), "-d", str(beir), "--task", TASK, "--json", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["settings"]["prompts"]["query"] == PROMPT
    blank = runner.invoke(app, ["eval", "reranking", "-m", str(tiny_dir), "-d", str(beir), "--task", " "])
    assert isinstance(blank.exception, EmbedlabError) and "non-blank string" in str(blank.exception)


def test_symmetric_evaluators_give_the_task_to_every_text(tmp_path) -> None:
    from embedlab.evaluation.classification import ClassificationConfig, evaluate_classification
    from embedlab.evaluation.clustering import evaluate_clustering
    from embedlab.evaluation.pairs import evaluate_pairs
    from embedlab.evaluation.sts import evaluate_sts
    from tests.files import write_jsonl

    sentences = [
        ("a cat sleeps", "a kitten naps", 4.5, 1),
        ("stocks fell", "markets dropped", 4.0, 1),
        ("a cat sleeps", "stocks fell", 0.5, 0),
        ("rain today", "a kitten naps", 1.0, 0),
    ]
    sts = write_jsonl(
        tmp_path / "sts.jsonl", [{"sentence1": a, "sentence2": b, "score": s} for a, b, s, _ in sentences]
    )
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl", [{"sentence1": a, "sentence2": b, "label": y} for a, b, _, y in sentences]
    )
    texts = write_jsonl(
        tmp_path / "texts.jsonl", [{"text": f"{w} {i}", "label": w} for w in ("cat", "stock") for i in range(4)]
    )
    runs = [
        lambda model, task: evaluate_sts(model, sts, task=task),
        lambda model, task: evaluate_pairs(model, pairs, task=task),
        lambda model, task: evaluate_clustering(model, texts, task=task),
        lambda model, task: evaluate_classification(model, texts, ClassificationConfig(folds=2), task=task),
    ]
    for run in runs:
        model = HashingEncoder()
        result = run(model, TASK)
        encoded = [text for call in model.calls for text in call]
        assert encoded and all(text.startswith(PROMPT) for text in encoded)
        assert result.settings["task"] == TASK
        plain = HashingEncoder()
        assert "task" not in run(plain, None).settings and not plain.calls[0][0].startswith("Instruct:")
