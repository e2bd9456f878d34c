"""Training data as column lists: pairs, triplets, scored pairs, NLI, BEIR qrels and self-supervised pairs.

Every reader returns a TrainingSet whose batches are the column dicts the losses consume; Parquet, Arrow, CSV
and `datasets` folders are read lazily instead, as an ArrowTrainingSet with the same interface (TrainingRows).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from embedlab.data.arrow_files import is_columnar
from embedlab.data.arrow_sets import read_arrow_training_set
from embedlab.data.beir import load_beir
from embedlab.data.labeled import check_lengths, read_jsonl_rows, read_labeled_pairs, read_scored_pairs, text_field
from embedlab.data.root import data_root
from embedlab.data.texts import read_texts
from embedlab.errors import EmbedlabError
from embedlab.files import json_line, open_text

NLI_LABELS = {"entailment": 0, "neutral": 1, "contradiction": 2}
TEXT_COLUMNS = ("anchor", "positive", "sentence1", "sentence2")
UNLABELLED_FIELDS = ("text", "sentence1", "sentence2", "anchor", "positive", "premise", "hypothesis")


class TrainingRows(Protocol):
    """What the batch samplers read: a name, a row count, one row's texts and the columns of some rows."""

    name: str

    def __len__(self) -> int: ...

    def texts(self, row: int) -> list[str]: ...

    def batch(self, rows: list[int]) -> dict[str, list]: ...


@dataclass
class TrainingSet:
    """One dataset's rows, column by column (anchor/positive[/negatives], or sentence1/sentence2/score|label)."""

    name: str
    columns: dict[str, list]

    def __post_init__(self) -> None:
        check_lengths(self.name, **self.columns)
        if not self.columns or len(self) == 0:
            raise EmbedlabError(f"{self.name}: no training rows")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def texts(self, row: int) -> list[str]:
        """Every text of a row: a batch must not hold any of them twice (it would be a false negative)."""
        found = [self.columns[c][row] for c in TEXT_COLUMNS if c in self.columns]
        # Looked up per row, not defaulted to a list of len(self) empties: this runs for every row of an epoch.
        negatives = self.columns["negatives"][row] if "negatives" in self.columns else []
        return found + list(negatives)

    def batch(self, rows: list[int]) -> dict[str, list]:
        return {name: [column[i] for i in rows] for name, column in self.columns.items()}


def read_pairs(path: str | Path) -> TrainingSet:
    """(anchor, positive) rows; a labelled pair file (sentence1, sentence2, label) contributes its positives."""
    path = Path(path)
    try:
        rows = read_jsonl_rows(path, {"anchor": text_field, "positive": text_field})
    except EmbedlabError:
        pairs = read_labeled_pairs(path)
        rows = [(a, b) for a, b, label in zip(pairs.sentence1, pairs.sentence2, pairs.label) if label == 1]
    return TrainingSet(path.parent.name, {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows]})


def read_triplets(path: str | Path) -> TrainingSet:
    """(anchor, positive, negative) rows, or a list `negatives` per row (the same count in every row)."""
    path = Path(path)
    try:
        rows = read_jsonl_rows(path, {"anchor": text_field, "positive": text_field, "negative": text_field})
        negatives = [[r[2]] for r in rows]
    except EmbedlabError:
        rows = read_jsonl_rows(path, {"anchor": text_field, "positive": text_field, "negatives": _text_list})
        negatives = [list(r[2]) for r in rows]
    if len({len(n) for n in negatives}) > 1:
        raise EmbedlabError(f"{path}: every row needs the same number of negatives")
    columns = {"anchor": [r[0] for r in rows], "positive": [r[1] for r in rows], "negatives": negatives}
    return TrainingSet(path.parent.name, columns)


def read_scored(path: str | Path) -> TrainingSet:
    """(sentence1, sentence2, score) rows, for CoSENT; scores are kept on their own scale."""
    pairs = read_scored_pairs(path)
    columns = {"sentence1": pairs.sentence1, "sentence2": pairs.sentence2, "score": pairs.score}
    return TrainingSet(Path(path).parent.name, columns)


def read_nli(path: str | Path, as_triplets: bool = True) -> TrainingSet:
    """NLI (premise, hypothesis, label) rows: as (premise, entailment, contradiction) triplets, or labelled pairs.

    Classification label ids: entailment 0, neutral 1, contradiction 2.
    """
    rows = read_jsonl_rows(Path(path), {"premise": text_field, "hypothesis": text_field, "label": text_field})
    if not as_triplets:
        kept = [r for r in rows if r[2] in NLI_LABELS]
        columns = {
            "sentence1": [r[0] for r in kept],
            "sentence2": [r[1] for r in kept],
            "label": [NLI_LABELS[r[2]] for r in kept],
        }
        return TrainingSet("nli", columns)
    first: dict[str, dict[str, str]] = {}
    for premise, hypothesis, label in rows:
        first.setdefault(premise, {}).setdefault(label, hypothesis)
    triplets = [
        (p, h["entailment"], h["contradiction"])
        for p, h in first.items()
        if {"entailment", "contradiction"} <= h.keys()
    ]
    return TrainingSet(
        "nli",
        {
            "anchor": [t[0] for t in triplets],
            "positive": [t[1] for t in triplets],
            "negatives": [[t[2]] for t in triplets],
        },
    )


def read_beir_pairs(directory: str | Path, split: str = "train") -> TrainingSet:
    """(query, relevant document) pairs from a BEIR split's qrels."""
    dataset = load_beir(directory, split=split)
    texts = dict(zip(dataset.doc_ids(), dataset.doc_texts()))
    pairs = [(dataset.queries[q], texts[d]) for q, docs in dataset.qrels.items() for d, rel in docs.items() if rel > 0]
    return TrainingSet(dataset.name, {"anchor": [p[0] for p in pairs], "positive": [p[1] for p in pairs]})


def simcse_pairs(texts: list[str], name: str = "simcse") -> TrainingSet:
    """Each text paired with itself: dropout makes the two views differ (unsupervised SimCSE)."""
    unique = list(dict.fromkeys(t for t in texts if t.strip()))
    return TrainingSet(name, {"anchor": unique, "positive": list(unique)})


def inverse_cloze_pairs(passages: list[str], seed: int = 0, name: str = "ict") -> TrainingSet:
    """One sentence as the query, the rest of its passage as the positive (Lee et al. 2019's inverse cloze)."""
    rng = random.Random(seed)
    anchors, positives = [], []
    for passage in passages:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", passage.strip()) if s]
        if len(sentences) < 2:
            continue
        pick = rng.randrange(len(sentences))
        anchors.append(sentences[pick])
        positives.append(" ".join(sentences[:pick] + sentences[pick + 1 :]))
    return TrainingSet(name, {"anchor": anchors, "positive": positives})


def load_training_set(path: str, kind: str = "auto", limit: int | None = None, seed: int = 0) -> TrainingRows:
    """Read a dataset by kind (pairs, triplets, scored, nli, beir, simcse, ict); `auto` guesses from the file.

    Columnar data (Parquet, Arrow, CSV, a `datasets.save_to_disk` folder) is memory-mapped, not read into lists.
    """
    location = _locate(path)
    if is_columnar(location):
        columnar = read_arrow_training_set(location, kind)
        return columnar if limit is None or limit >= len(columnar) else columnar.head(limit)
    if kind == "auto":
        kind = _guess_kind(location)
    if kind in ("simcse", "ict"):
        texts = unlabelled_texts(location)[:limit]
        return simcse_pairs(texts) if kind == "simcse" else inverse_cloze_pairs(texts, seed)
    readers = {
        "pairs": read_pairs, "triplets": read_triplets, "scored": read_scored, "nli": read_nli, "beir": read_beir_pairs
    }
    rows = readers[kind](location)
    return rows if limit is None or limit >= len(rows) else TrainingSet(rows.name, rows.batch(list(range(limit))))


def unlabelled_texts(location: Path) -> list[str]:
    """Plain texts from any file here: a BEIR corpus, a .txt, or every text field of a jsonl(.gz) file."""
    if location.is_dir():
        return read_texts(location / "corpus.jsonl")
    if location.suffix == ".txt":
        return read_texts(location)
    texts = []
    with open_text(location) as lines:
        for number, line in enumerate(lines, start=1):
            row = json_line(line, f"{location}:{number}") if line.strip() else {}
            texts += [row[k] for k in UNLABELLED_FIELDS if isinstance(row.get(k), str) and row[k].strip()]
    return texts


def _text_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of strings")
    return value


def _locate(path: str) -> Path:
    for candidate in (Path(path), data_root() / path):
        if candidate.exists():
            return candidate
    raise EmbedlabError(f"no training data at {path} (also looked under the data root {data_root()})")


def _guess_kind(path: Path) -> str:
    if path.is_dir():
        return "beir"
    with open_text(path) as lines:
        header = lines.readline()
    for kind, key in (
        ("triplets", '"negative'),
        ("nli", '"premise"'),
        ("scored", '"score"'),
        ("pairs", '"positive"'),
        ("pairs", '"label"'),
    ):
        if key in header:
            return kind
    raise EmbedlabError(f"cannot tell what kind of training data {path} is; set kind explicitly")
