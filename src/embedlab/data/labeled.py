"""Labeled evaluation data: scored sentence pairs (STS), binary pairs (paraphrase) and labeled texts.

Each kind is a small dataclass read from jsonl by one shared row reader, so every file error names its line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedlab.errors import EmbedlabError
from embedlab.files import json_line, open_text

Label = str | int


def text_field(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {type(value).__name__}")
    return value


def _score(value: Any) -> float:
    # bool is an int subclass, but `true` as a similarity score is a data error, not 1.0.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return float(value)


def _binary_label(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in (0, 1):
        raise ValueError(f"must be 0 or 1, got {value!r}")
    return int(value)


def _class_label(value: Any) -> Label:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"must be a string or an integer, got {value!r}")
    return value


def read_jsonl_rows(path: str | Path, fields: Mapping[str, Callable[[Any], Any]]) -> list[tuple]:
    """One tuple per non-blank jsonl line, holding `fields` in order, each passed through its checker.

    Checkers raise TypeError or ValueError; it is re-raised as a one-line EmbedlabError naming file, line and field.
    """
    path = Path(path)
    if not path.is_file():
        raise EmbedlabError(f"no data file at {path}")
    rows = []
    with open_text(path) as lines:  # SNLI-sized files ship gzipped
        try:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    rows.append(_parse_row(line, fields, f"{path}:{number}"))
        except UnicodeDecodeError as err:
            raise EmbedlabError(f"{path} is not UTF-8 text: {err}") from None
    if not rows:
        raise EmbedlabError(f"{path} holds no rows")
    return rows


def _parse_row(line: str, fields: Mapping[str, Callable[[Any], Any]], where: str) -> tuple:
    row = json_line(line, where)
    if not isinstance(row, dict):
        raise EmbedlabError(f"{where} is not a JSON object")
    values = []
    for name, check in fields.items():
        if name not in row:
            raise EmbedlabError(f"{where} has no field {name!r}")
        try:
            values.append(check(row[name]))
        except (TypeError, ValueError) as err:
            raise EmbedlabError(f"{where} field {name!r} {err}") from None
    return tuple(values)


def _columns(rows: list[tuple]) -> list[list]:
    return [list(column) for column in zip(*rows)]


def _dataset_name(path: Path) -> str:
    """`stsb/test` for `.../stsb/test.jsonl`: the dataset folder and split, as results name them."""
    return f"{path.parent.name}/{path.stem}"


def check_lengths(name: str, **columns: list) -> None:
    """Every column of a dataset must have one value per row."""
    lengths = {key: len(column) for key, column in columns.items()}
    if len(set(lengths.values())) > 1:
        raise EmbedlabError(f"{name}: columns differ in length: {lengths}")


@dataclass(frozen=True)
class ScoredPairs:
    """Sentence pairs with a graded similarity score (STS-B: 0-5); row i is (sentence1[i], sentence2[i], score[i])."""

    sentence1: list[str]
    sentence2: list[str]
    score: list[float]
    name: str = "inline"

    def __post_init__(self) -> None:
        check_lengths(self.name, sentence1=self.sentence1, sentence2=self.sentence2, score=self.score)


@dataclass(frozen=True)
class LabeledPairs:
    """Sentence pairs labeled 1 (paraphrase / duplicate) or 0 (not), as in MRPC."""

    sentence1: list[str]
    sentence2: list[str]
    label: list[int]
    name: str = "inline"

    def __post_init__(self) -> None:
        check_lengths(self.name, sentence1=self.sentence1, sentence2=self.sentence2, label=self.label)
        for i, value in enumerate(self.label):
            try:
                _binary_label(value)
            except ValueError as err:
                raise EmbedlabError(f"{self.name}: label[{i}] {err}") from None


@dataclass(frozen=True)
class LabeledTexts:
    """Texts with a class label each; labels stay as given (str or int), only compared for equality."""

    text: list[str]
    label: list[Label]
    name: str = "inline"

    def __post_init__(self) -> None:
        check_lengths(self.name, text=self.text, label=self.label)

    def label_ids(self, task: str) -> np.ndarray:
        """Labels as ints 0..k-1 in order of first appearance; `task` needs k >= 2 to mean anything.

        Codes rather than the labels themselves, because numpy cannot sort a mix of str and int labels.
        """
        codes: dict[Label, int] = {}
        ids = np.array([codes.setdefault(label, len(codes)) for label in self.label], dtype=np.int64)
        if len(codes) < 2:
            raise EmbedlabError(f"{task} needs at least 2 classes, {self.name} has {len(codes)}")
        return ids


def read_scored_pairs(path: str | Path) -> ScoredPairs:
    """Read jsonl rows {sentence1, sentence2, score} (score any finite number)."""
    rows = read_jsonl_rows(path, {"sentence1": text_field, "sentence2": text_field, "score": _score})
    return ScoredPairs(*_columns(rows), name=_dataset_name(Path(path)))


def read_labeled_pairs(path: str | Path) -> LabeledPairs:
    """Read jsonl rows {sentence1, sentence2, label} with label 0 or 1 (1.0 and 0.0 are accepted as ints)."""
    rows = read_jsonl_rows(path, {"sentence1": text_field, "sentence2": text_field, "label": _binary_label})
    return LabeledPairs(*_columns(rows), name=_dataset_name(Path(path)))


def read_labeled_texts(path: str | Path) -> LabeledTexts:
    """Read jsonl rows {text, label}; labels may be strings or integers and are kept as given."""
    rows = read_jsonl_rows(path, {"text": text_field, "label": _class_label})
    return LabeledTexts(*_columns(rows), name=_dataset_name(Path(path)))
