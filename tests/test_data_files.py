"""The data root and reading texts from .txt / .jsonl files."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedlab.data import data_root, dataset_path, read_texts
from embedlab.errors import EmbedlabError


def test_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBEDLAB_DATA", str(tmp_path))
    (tmp_path / "sts").mkdir()
    assert data_root() == tmp_path
    assert dataset_path("sts") == tmp_path / "sts"
    assert dataset_path("missing") is None


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0), max_size=8))
def test_jsonl_round_trips_any_text(tmp_path, texts):
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in texts), encoding="utf-8")
    assert read_texts(path) == texts


def test_txt_is_one_text_per_line(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("first\r\n\nthird has \u2028 and \x1c inside\n".encode())
    assert read_texts(path) == ["first", "", "third has \u2028 and \x1c inside"]
    path.write_text("")
    assert read_texts(path) == []


def test_beir_rows_join_title_and_text(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"_id": "1", "title": "Title", "text": "Body."}) + "\n")
    assert read_texts(path) == ["Title Body."]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a"}\n[1, 2]\n', ":2 has no string field 'text'"),
        ('{"text": 5}\n', ":1 has no string field"),
        ("{oops\n", ":1 is not valid JSON"),
    ],
)
def test_malformed_jsonl_names_the_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(EmbedlabError, match=message):
        read_texts(path)


def test_missing_and_binary_files_fail_clearly(tmp_path):
    with pytest.raises(EmbedlabError, match="no input file"):
        read_texts(tmp_path / "nope.txt")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(EmbedlabError, match="not UTF-8"):
        read_texts(binary)
