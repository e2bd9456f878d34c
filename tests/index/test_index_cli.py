"""`embedlab index build | add | search | info` on a small corpus, and their one-line errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from embedlab.cli.app import app
from embedlab.cli.index import parse_where
from embedlab.errors import EmbedlabError
from tests.fakes import HashingEncoder
from tests.files import write_jsonl
from tests.test_cli import run_cli

runner = CliRunner()
ROWS = [
    {"_id": "cats", "title": "Cats", "text": "Cats purr when they are happy.", "lang": "en"},
    {"_id": "dogs", "text": "Dogs bark at strangers.", "lang": "en"},
    {"_id": "chat", "text": "Le chat dort sur le canapé.", "lang": "fr"},
]


@pytest.fixture
def fake_model(monkeypatch):
    monkeypatch.setattr("embedlab.models.loading.load_model", lambda name, **kwargs: HashingEncoder())


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_build_search_add_info(tmp_path, fake_model):
    corpus, out = write_jsonl(tmp_path / "c.jsonl", ROWS), str(tmp_path / "idx")
    assert "indexed 3 documents as 3 chunks (exact)" in invoke("index", "build", "--corpus", str(corpus), "--out", out)
    assert "Cats purr" in invoke("index", "search", out, "why do cats purr", "-k", "1")
    lines = invoke("index", "search", out, "cats dogs chat", "--where", "lang=fr", "--mode", "hybrid", "--json")
    assert [json.loads(line)["doc_id"] for line in lines.strip().splitlines()] == ["chat"]
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": "birds", "text": "Birds sing at dawn."}, ROWS[0]])
    assert "added 2 documents (1 new); 4 in" in invoke("index", "add", out, "--corpus", str(more))
    shown = invoke("index", "info", out)
    assert "minilm" in shown and "g000002" in shown and "│ documents       │ 4" in shown


def test_where_values_are_json_when_they_parse():
    assert parse_where(["year=2020", "lang=en", "ok=true", "tags=[1, 2]"]) == {
        "year": 2020,
        "lang": "en",
        "ok": True,
        "tags": [1, 2],
    }
    with pytest.raises(EmbedlabError, match="FIELD=VALUE"):
        parse_where(["year"])


def test_errors_are_one_line(tmp_path):
    for args, message in [
        (("index", "search", str(tmp_path), "q"), "not an index"),
        (("index", "info", str(tmp_path / "none")), "not an index"),
        (("index", "build", "--corpus", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "i")), "no corpus file"),
        (("index", "build", "--corpus", "x", "--out", "y", "--uri", "http://h:19530"), "--uri is for --store milvus"),
    ]:
        result = run_cli(*args)
        assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_build_late_chunking_with_a_transformer(tmp_path, tokenizer):
    from tests.tiny_models import make_tiny_encoder

    model = str(make_tiny_encoder(tokenizer).save(tmp_path / "tiny"))
    corpus, out = write_jsonl(tmp_path / "c.jsonl", ROWS), str(tmp_path / "idx")
    built = invoke("index", "build", "--corpus", str(corpus), "--out", out, "-m", model, "--late-chunking")
    assert "indexed 3 documents as 3 chunks (exact, late-chunked)" in built
    assert "overlap 32, late" in invoke("index", "info", out)
    assert "Cats purr" in invoke("index", "search", out, "Cats purr when they are happy.", "-k", "1")
