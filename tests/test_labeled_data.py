"""Readers of scored pairs, labeled pairs and labeled texts: values kept exactly, every bad row named by line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.data.labeled import (
    LabeledPairs,
    LabeledTexts,
    ScoredPairs,
    read_labeled_pairs,
    read_labeled_texts,
    read_scored_pairs,
)
from embedlab.errors import EmbedlabError
from tests.conftest import real_data
from tests.files import write_jsonl


def test_reads_each_kind_and_names_the_dataset_by_folder_and_split(tmp_path: Path) -> None:
    scored = write_jsonl(tmp_path / "stsb" / "dev.jsonl", [{"sentence1": "a", "sentence2": "b", "score": 4}])
    pairs = write_jsonl(tmp_path / "mrpc" / "test.jsonl", [{"sentence1": "a", "sentence2": "b", "label": 1.0}])
    texts = write_jsonl(tmp_path / "trec" / "test.jsonl", [{"text": "x", "label": "NUM"}, {"text": "y", "label": 3}])

    assert read_scored_pairs(scored) == ScoredPairs(["a"], ["b"], [4.0], name="stsb/dev")
    assert read_labeled_pairs(pairs) == LabeledPairs(["a"], ["b"], [1], name="mrpc/test")
    assert read_labeled_texts(texts) == LabeledTexts(["x", "y"], ["NUM", 3], name="trec/test")
    assert type(read_labeled_pairs(pairs).label[0]) is int
    assert type(read_scored_pairs(scored).score[0]) is float


def test_blank_lines_are_skipped_but_count_towards_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": 0}\n\n  \n{"text": 5, "label": 0}\n', encoding="utf-8")
    with pytest.raises(EmbedlabError, match=r"t\.jsonl:4 field 'text' must be a string, got int"):
        read_labeled_texts(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"sentence1": "a", "sentence2": "b", "label": 1}\n{"sentence1": "a"', r":2 is not valid JSON"),
        ('["a", "b", 1]', r":1 is not a JSON object"),
        ('{"sentence1": "a", "label": 1}', r":1 has no field 'sentence2'"),
        ('{"sentence1": "a", "sentence2": "b", "label": 2}', r":1 field 'label' must be 0 or 1, got 2"),
        ('{"sentence1": "a", "sentence2": "b", "label": true}', r":1 field 'label' must be 0 or 1, got True"),
        ('{"sentence1": "a", "sentence2": "b", "label": "1"}', r":1 field 'label' must be 0 or 1, got '1'"),
        ('{"sentence1": "a", "sentence2": null, "label": 0}', r":1 field 'sentence2' must be a string, got NoneType"),
        ("\n\n", r"holds no rows"),
    ],
)
def test_malformed_pair_files_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EmbedlabError, match=message) as caught:
        read_labeled_pairs(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("score", ["NaN", "Infinity", '"4.0"', "false"])
def test_scores_must_be_finite_numbers(tmp_path: Path, score: str) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(f'{{"sentence1": "a", "sentence2": "b", "score": {score}}}\n', encoding="utf-8")
    with pytest.raises(EmbedlabError, match=r"s\.jsonl:1 field 'score' must be a finite number"):
        read_scored_pairs(path)


@pytest.mark.parametrize("label", ["1.5", "null", "[1]", "true"])
def test_class_labels_must_be_strings_or_integers(tmp_path: Path, label: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": "a", "label": 0}])
    path.write_text(path.read_text() + f'{{"text": "b", "label": {label}}}\n', encoding="utf-8")
    with pytest.raises(EmbedlabError, match=r"t\.jsonl:2 field 'label' must be a string or an integer"):
        read_labeled_texts(path)


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(EmbedlabError, match="no data file at"):
        read_scored_pairs(tmp_path / "absent.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"text": "café", "label": 1}\n'.encode("latin-1"))
    with pytest.raises(EmbedlabError, match="is not UTF-8 text"):
        read_labeled_texts(latin)


def test_dataclasses_check_their_columns() -> None:
    with pytest.raises(EmbedlabError, match="columns differ in length"):
        ScoredPairs(["a", "b"], ["c"], [1.0, 2.0])
    with pytest.raises(EmbedlabError, match=r"label\[1\] must be 0 or 1, got -1"):
        LabeledPairs(["a", "b"], ["c", "d"], [1, -1])
    with pytest.raises(EmbedlabError, match="columns differ in length"):
        LabeledTexts(["a"], [])


def test_label_ids_follow_first_appearance_and_allow_mixed_types() -> None:
    texts = LabeledTexts(list("abcde"), ["spam", 0, "spam", "ham", 0], name="mixed")
    np.testing.assert_array_equal(texts.label_ids("clustering"), [0, 1, 0, 2, 1])
    with pytest.raises(EmbedlabError, match="clustering needs at least 2 classes, one has 1"):
        LabeledTexts(["a", "b"], ["x", "x"], name="one").label_ids("clustering")


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)  # \u2028, \x85, \r and friends included


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(TEXT, TEXT, st.floats(-10, 10, allow_nan=False)), min_size=1, max_size=8))
def test_scored_pairs_round_trip_any_text(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]) -> None:
    path = write_jsonl(
        tmp_path_factory.mktemp("rt") / "data.jsonl", [{"sentence1": a, "sentence2": b, "score": s} for a, b, s in rows]
    )
    pairs = read_scored_pairs(path)
    assert list(zip(pairs.sentence1, pairs.sentence2, pairs.score)) == rows


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(TEXT, st.one_of(TEXT, st.integers(-5, 5))), min_size=1, max_size=8))
def test_labeled_texts_keep_labels_as_given(tmp_path_factory: pytest.TempPathFactory, rows: list[tuple]) -> None:
    path = write_jsonl(tmp_path_factory.mktemp("rt") / "data.jsonl", [{"text": t, "label": y} for t, y in rows])
    texts = read_labeled_texts(path)
    assert list(zip(texts.text, texts.label)) == rows
    assert [type(y) for y in texts.label] == [type(y) for _, y in rows]


def test_real_datasets_have_their_documented_sizes() -> None:
    banking = read_labeled_texts(real_data("classification", "banking77", "test.jsonl"))
    assert (len(banking.text), len(set(banking.label))) == (3080, 77)
    assert len(read_scored_pairs(real_data("sts", "stsb", "test.jsonl")).score) == 1379
    mrpc = read_labeled_pairs(real_data("pairs", "mrpc", "test.jsonl"))
    assert set(mrpc.label) == {0, 1}
