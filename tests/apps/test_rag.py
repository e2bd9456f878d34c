"""RAG: sources fitted to a token budget, numbered prompts, extractive and generated answers, retrieval recall."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from embedlab.apps.chat_client import ChatConfig
from embedlab.apps.rag import (
    SYSTEM_PROMPT,
    RagConfig,
    Source,
    answer,
    build_prompt,
    evaluate_rag_retrieval,
    fit_to_budget,
)
from embedlab.cli.app import app
from embedlab.data.corpus import Document, token_spans
from embedlab.errors import EmbedlabError
from embedlab.index.index import Index, IndexHit
from tests.fakes import HashingEncoder
from tests.test_cli import run_cli

DOCS = [
    Document("cats", "Cats purr when they are happy. They sleep most of the day."),
    Document("dogs", "Dogs bark at strangers. Dogs love long walks."),
    Document("rhine", "The Rhine flows from the Alps to the North Sea."),
]


def hit(text: str, doc_id: str = "d") -> IndexHit:
    return IndexHit(doc_id, 0, 1.0, text, "", 0, len(text), {})


@pytest.fixture
def index() -> Index:
    return Index.build(HashingEncoder(), DOCS)


def test_sources_fill_the_budget_and_the_crossing_one_is_cut():
    hits = [hit("a b c"), hit("d e f g"), hit("h")]
    sources = fit_to_budget(hits, token_spans(None), budget=5)
    assert [s.text for s in sources] == ["a b c", "d e"]
    assert [s.text for s in fit_to_budget(hits, token_spans(None), budget=3)] == ["a b c"]
    assert [s.text for s in fit_to_budget(hits, token_spans(None), budget=100)] == ["a b c", "d e f g", "h"]


def test_the_prompt_numbers_sources_in_rank_order():
    prompt = build_prompt(" Why? ", [Source(hit("first\n text"), "first\n text"), Source(hit("second"), "second")])
    assert prompt == "Sources:\n\n[1] first text\n\n[2] second\n\nQuestion: Why?\n\nAnswer with citations:"
    assert "(none)" in build_prompt("q", [])


def test_extractive_answer_cites_the_best_sentences(index):
    result = answer("why do cats purr", index, RagConfig(k=2, mode="dense", sentences=1))
    assert result.mode == "extractive"
    assert result.citations[0].doc_id == "cats" and result.citations[0].number == 1
    assert result.answer == "Cats purr when they are happy. [1]"


def test_generated_answer_goes_through_the_chat_endpoint(index, chat_server):
    fake, url = chat_server
    fake.reply = lambda messages: " Cats purr when happy [1]. "
    result = answer("why do cats purr", index, RagConfig(k=2, mode="hybrid", chat=ChatConfig(url, "tiny-llm")))
    assert (result.mode, result.answer) == ("generated", "Cats purr when happy [1].")
    body = fake.requests[-1][2]
    assert body["model"] == "tiny-llm"
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert body["messages"][-1]["content"] == result.prompt and "[1] Cats purr when they are happy." in result.prompt


def test_bad_questions_and_settings(index):
    with pytest.raises(EmbedlabError, match="question is empty"):
        answer("  ", index)
    with pytest.raises(EmbedlabError, match="unknown retrieval mode"):
        RagConfig(mode="sparse")
    with pytest.raises(EmbedlabError, match=">= 1"):
        RagConfig(k=0)


def test_retrieval_recall_by_hand(index):
    queries = {"q1": "cats purr happy", "q2": "dogs bark strangers"}
    qrels = {"q1": {"cats": 1}, "q2": {"dogs": 1, "rhine": 1, "gone": 0}}
    recall = evaluate_rag_retrieval(index, queries, qrels, ks=(1, 3), config=RagConfig(mode="bm25"))
    assert recall == {"recall@1": pytest.approx((1 + 0.5) / 2), "recall@3": pytest.approx((1 + 1) / 2)}
    with pytest.raises(EmbedlabError, match="no text"):
        evaluate_rag_retrieval(index, {}, qrels)


def test_rag_command_answers_offline(tmp_path, monkeypatch):
    monkeypatch.setattr("embedlab.models.loading.load_model", lambda name, **kwargs: HashingEncoder())
    Index.build(HashingEncoder(), DOCS, model_name="hashing").save(tmp_path / "idx")
    result = CliRunner().invoke(app, ["rag", str(tmp_path / "idx"), "where does the Rhine flow?", "--k", "1"])
    assert result.exit_code == 0, result.output
    assert "The Rhine flows from the Alps to the North Sea. [1]" in result.output and "extractive" in result.output


def test_rag_command_errors_are_one_line(tmp_path):
    result = run_cli("rag", str(tmp_path), "question?")
    assert result.returncode == 1 and "not an index" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("rag", str(tmp_path), "question?", "--endpoint", "http://127.0.0.1:9")
    assert result.returncode == 1 and "go together" in result.stderr
