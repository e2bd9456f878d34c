"""Synthetic queries: robust parsing of replies, pairs `embedlab train` reads, and resuming a stopped run."""

from __future__ import annotations

import json

import pytest

from embedlab.apps.chat_client import ChatConfig
from embedlab.apps.synth import SynthConfig, parse_queries, synthesize
from embedlab.data.training_sets import load_training_set
from embedlab.errors import EmbedlabError
from tests.files import write_jsonl

PASSAGES = {
    "d1": "Aspirin lowers the risk of heart attack in adults over fifty.",
    "d2": "Honey bees communicate the direction of food with a waggle dance.",
    "d3": "The Rhine flows from the Swiss Alps to the North Sea.",
}


def test_parse_strips_markers_quotes_headers_and_duplicates():
    reply = """<think>They want three queries.</think>
Here are 3 queries:
1. "does aspirin prevent heart attacks"
2) Aspirin heart attack risk over 50
- DOES ASPIRIN PREVENT HEART ATTACKS

* **Query 3:** aspirin cardiovascular benefit elderly
""" + " ".join(["word"] * 40)
    assert parse_queries(reply, count=5, max_words=32) == [
        "does aspirin prevent heart attacks",
        "Aspirin heart attack risk over 50",
        "aspirin cardiovascular benefit elderly",
    ]
    assert parse_queries(reply, count=2, max_words=32) == parse_queries(reply, 5, 32)[:2]
    assert parse_queries("\n \n", count=3, max_words=32) == []


def corpus(tmp_path, ids=tuple(PASSAGES)):
    return write_jsonl(tmp_path / "corpus.jsonl", [{"_id": i, "title": "", "text": PASSAGES[i]} for i in ids])


def queries_for(messages: list[dict]) -> str:
    """Numbered queries naming the passage's first word, plus a duplicate and an empty line to drop."""
    passage = messages[-1]["content"].split("Passage:\n", 1)[1]
    word = passage.split()[0].lower()
    return f"1. what about {word}?\n2. {word} facts\n\n3. {word} facts\n4. more on {word}"


def test_pairs_are_training_data(chat_server, tmp_path):
    fake, url = chat_server
    fake.reply = queries_for
    out = tmp_path / "pairs.jsonl"
    report = synthesize(corpus(tmp_path), out, ChatConfig(url, "m"), SynthConfig(per_passage=3), show_progress=False)
    assert (report.passages, report.skipped, report.pairs, report.without_queries) == (3, 0, 9, 0)
    pairs = load_training_set(str(out))
    assert pairs.columns["anchor"][:3] == ["what about aspirin?", "aspirin facts", "more on aspirin"]
    assert pairs.columns["positive"][:3] == [PASSAGES["d1"]] * 3
    assert "Write 3 different search queries" in fake.requests[0][2]["messages"][-1]["content"]


def test_resume_skips_done_passages_and_repairs_a_torn_line(chat_server, tmp_path):
    fake, url = chat_server
    fake.reply = queries_for
    out = tmp_path / "pairs.jsonl"
    chat = ChatConfig(url, "m")
    synthesize(corpus(tmp_path), out, chat, SynthConfig(per_passage=2, limit=1), show_progress=False)
    with out.open("a") as handle:
        handle.write('{"anchor": "half a li')  # a crash mid-write
    asked_before = len(fake.requests)
    report = synthesize(corpus(tmp_path), out, chat, SynthConfig(per_passage=2), show_progress=False)
    assert (report.passages, report.skipped, report.pairs) == (3, 1, 4)
    assert len(fake.requests) - asked_before == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["passage_id"] for r in rows] == ["d1", "d1", "d2", "d2", "d3", "d3"]
    again = synthesize(corpus(tmp_path), out, chat, SynthConfig(per_passage=2), show_progress=False)
    assert (again.skipped, again.pairs) == (3, 0)


def test_a_passage_without_queries_is_asked_again(chat_server, tmp_path):
    fake, url = chat_server
    fake.reply = lambda messages: "Here are some queries:\n"
    out = tmp_path / "pairs.jsonl"
    report = synthesize(corpus(tmp_path, ["d1"]), out, ChatConfig(url, "m"), show_progress=False)
    assert (report.pairs, report.without_queries) == (0, 1)
    assert not out.exists()


def test_refuses_an_output_it_did_not_write(chat_server, tmp_path):
    _, url = chat_server
    out = write_jsonl(tmp_path / "other.jsonl", [{"anchor": "a", "positive": "b"}])
    with pytest.raises(EmbedlabError, match="no passage_id"):
        synthesize(corpus(tmp_path), out, ChatConfig(url, "m"), show_progress=False)
