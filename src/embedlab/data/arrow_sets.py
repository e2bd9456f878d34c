"""Training rows read lazily from a memory-mapped Arrow table: the columnar twin of TrainingSet.

Only the rows a batch needs are turned into Python strings, so memory stays flat however long the file is.
Column names follow the JSONL readers': pairs (anchor, positive), triplets (+ negative, or a list `negatives`
with the same count per row) and scored pairs (sentence1, sentence2, score); other columns are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from embedlab.data.arrow_files import open_table
from embedlab.errors import EmbedlabError

LAYOUTS = {"pairs": ("anchor", "positive"), "triplets": ("anchor", "positive"), "scored": ("sentence1", "sentence2")}


class ArrowTrainingSet:
    """One dataset's rows in Arrow columns; `texts(row)` and `batch(rows)` give what TrainingSet's give."""

    def __init__(self, name: str, text_columns: dict[str, pa.ChunkedArray], negatives: pa.ChunkedArray | None = None,
                 score: pa.ChunkedArray | None = None) -> None:
        self.name = name
        self.text_columns = text_columns
        self.negatives = negatives
        self.score = score
        self.rows = len(next(iter(text_columns.values())))
        if self.rows == 0:
            raise EmbedlabError(f"{name}: no training rows")

    def __len__(self) -> int:
        return self.rows

    def texts(self, row: int) -> list[str]:
        """Every text of a row: a batch must not hold any of them twice (it would be a false negative)."""
        return [column[row].as_py() for column in self.text_columns.values()] + self._negatives(row)

    def batch(self, rows: list[int]) -> dict[str, list]:
        # Scalar reads beat `take` here: a batch's rows are scattered over the whole file.
        columns: dict[str, list] = {
            name: [column[i].as_py() for i in rows] for name, column in self.text_columns.items()
        }
        if self.negatives is not None:
            columns["negatives"] = [self._negatives(i) for i in rows]
        if self.score is not None:
            columns["score"] = [float(self.score[i].as_py()) for i in rows]
        return columns

    def head(self, limit: int) -> ArrowTrainingSet:
        """The first `limit` rows, sharing this set's memory."""
        sliced = {name: column.slice(0, limit) for name, column in self.text_columns.items()}
        return ArrowTrainingSet(self.name, sliced, _slice(self.negatives, limit), _slice(self.score, limit))

    def _negatives(self, row: int) -> list[str]:
        if self.negatives is None:
            return []
        value = self.negatives[row].as_py()
        return value if isinstance(value, list) else [value]


def read_arrow_training_set(path: Path, kind: str = "auto") -> ArrowTrainingSet:
    """A Parquet/Arrow/CSV file or `save_to_disk` folder as pairs, triplets or scored pairs
    (`auto` reads the columns)."""
    table = open_table(path)
    names = set(table.column_names)
    if kind == "auto":
        kind = _guess_kind(path, names)
    if kind not in LAYOUTS:
        raise EmbedlabError(f"{path}: columnar files hold pairs, triplets or scored rows, not {kind}")
    required = list(LAYOUTS[kind])
    if kind == "triplets":
        required.append("negatives" if "negatives" in names else "negative")
    if kind == "scored":
        required.append("score")
    missing = [name for name in required if name not in names]
    if missing:
        raise EmbedlabError(f"{path} has no column {', '.join(missing)} (its columns: {', '.join(table.column_names)})")
    if table.num_rows == 0:
        raise EmbedlabError(f"{path} holds no rows")
    for name in required:
        _check_column(path, name, table.column(name))
    text_columns = {name: table.column(name) for name in LAYOUTS[kind]}
    negatives = table.column(required[2]) if kind == "triplets" else None
    if kind == "triplets" and required[2] == "negatives":
        _check_negative_counts(path, negatives)
    score = table.column("score") if kind == "scored" else None
    # Named as the JSONL readers name theirs: by folder (`mrpc` for `mrpc/train.parquet`).
    return ArrowTrainingSet(path.parent.name if path.is_file() else path.name, text_columns, negatives, score)


def _guess_kind(path: Path, names: set[str]) -> str:
    if {"negative", "negatives"} & names:
        return "triplets"
    if "score" in names:
        return "scored"
    if {"anchor", "positive"} <= names:
        return "pairs"
    raise EmbedlabError(f"cannot tell what kind of training data {path} is from its columns {sorted(names)}; set kind")


def _check_column(path: Path, name: str, column: pa.ChunkedArray) -> None:
    kind = column.type
    if name == "score":
        fits = pa.types.is_integer(kind) or pa.types.is_floating(kind)
    elif name == "negatives":
        fits = (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and _is_text(kind.value_type)
    else:
        fits = _is_text(kind)
    if not fits:
        wanted = "numbers" if name == "score" else "lists of strings" if name == "negatives" else "strings"
        raise EmbedlabError(f"{path}: column {name} must hold {wanted}, not {kind}")
    if column.null_count:
        raise EmbedlabError(f"{path}: column {name} has {column.null_count} missing value(s)")
    if name == "score" and pa.types.is_floating(kind) and not pc.all(pc.is_finite(column)).as_py():
        raise EmbedlabError(f"{path}: column score holds NaN or infinite values")


def _check_negative_counts(path: Path, negatives: pa.ChunkedArray) -> None:
    lengths = pc.min_max(pc.list_value_length(negatives)).as_py()
    if lengths["min"] != lengths["max"]:
        raise EmbedlabError(f"{path}: every row needs the same number of negatives")
    if pc.list_flatten(negatives).null_count:
        raise EmbedlabError(f"{path}: column negatives has missing values inside its lists")


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


def _slice(column: pa.ChunkedArray | None, limit: int) -> pa.ChunkedArray | None:
    return None if column is None else column.slice(0, limit)
