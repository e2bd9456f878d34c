"""An index's query task: saved in the manifest, used by every search that names none, overridable per search."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedlab.cli.app import app
from embedlab.errors import EmbedlabError
from embedlab.index.index import MANIFEST, Index, IndexConfig, read_manifest
from tests.fakes import HashingEncoder
from tests.files import write_jsonl
from tests.index.test_index import CONFIG, DOCS
from tests.index.test_index_cli import ROWS

TASK = "Given a question, find the passage that answers it"
PROMPT = f"Instruct: {TASK}\nQuery: "


def build(task: str | None = TASK) -> Index:
    return Index.build(HashingEncoder(), DOCS, replace(CONFIG, task=task))


def test_searches_use_the_saved_task_unless_given_another(tmp_path) -> None:
    index = build()
    index.search("why do cats purr")
    assert index.encoder.calls[-1] == [PROMPT + "why do cats purr"]
    index.search("why do cats purr", task="Find the animal", mode="hybrid")
    assert index.encoder.calls[-1] == ["Instruct: Find the animal\nQuery: why do cats purr"]
    assert read_manifest(index.save(tmp_path / "idx"))["task"] == TASK
    loaded = Index.load(tmp_path / "idx", encoder=HashingEncoder())
    assert loaded.config.task == TASK
    loaded.search("dogs")
    assert loaded.encoder.calls[-1] == [PROMPT + "dogs"]
    assert not any(text.startswith("Instruct:") for text in index.encoder.calls[0])  # chunks never carry it


@settings(max_examples=25)
@given(st.sampled_from(["cats purr", "dogs bark at strangers", "la bourse", "word3 word7", "walks"]))
def test_a_task_ranks_as_the_instruction_typed_before_the_query_would(query: str) -> None:
    tasked, plain = build(), build(task=None)
    assert tasked.search(query, k=4) == plain.search(PROMPT + query, k=4)


def test_an_index_saved_before_tasks_existed_loads_without_one(tmp_path) -> None:
    directory = build(task=None).save(tmp_path / "idx")
    manifest = json.loads((directory / MANIFEST).read_text())
    del manifest["task"]
    (directory / MANIFEST).write_text(json.dumps(manifest))
    loaded = Index.load(directory, encoder=HashingEncoder())
    loaded.search("cats")
    assert loaded.config.task is None and loaded.encoder.calls[-1] == ["cats"]


@pytest.mark.parametrize("task", ["", " ", 3])
def test_a_bad_task_is_refused(task) -> None:
    with pytest.raises(EmbedlabError, match="non-blank string"):
        IndexConfig(task=task)
    with pytest.raises(EmbedlabError, match="non-blank string"):
        build().search("cats", task=task)


def test_the_cli_saves_shows_and_overrides_the_task(tmp_path, monkeypatch) -> None:
    models: list[HashingEncoder] = []

    def load_model(name: str, **options) -> HashingEncoder:
        models.append(HashingEncoder())
        return models[-1]

    monkeypatch.setattr("embedlab.models.loading.load_model", load_model)
    corpus, out = write_jsonl(tmp_path / "c.jsonl", ROWS), str(tmp_path / "idx")
    runner = CliRunner()
    assert runner.invoke(app, ["index", "build", "--corpus", str(corpus), "--out", out, "--task", TASK]).exit_code == 0
    assert runner.invoke(app, ["index", "search", out, "cats"]).exit_code == 0
    assert models[-1].calls[-1] == [PROMPT + "cats"]
    assert runner.invoke(app, ["index", "search", out, "cats", "--task", "Other"]).exit_code == 0
    assert models[-1].calls[-1] == ["Instruct: Other\nQuery: cats"]
    shown = runner.invoke(app, ["index", "info", out]).output
    assert "Given a question" in shown
