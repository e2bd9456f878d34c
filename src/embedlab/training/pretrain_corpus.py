"""The local text corpus for MLM pretraining: every training text under the data root, evaluation texts removed.

A model pretrained on the sentences it is later scored on would flatter itself, so those never enter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from embedlab.data.beir import doc_text, load_beir
from embedlab.data.labeled import read_jsonl_rows
from embedlab.data.root import data_root, dataset_path
from embedlab.errors import EmbedlabError

# (path under the data root, text fields): plain training text. BEIR corpora are retrieval targets, not labels.
SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sts/stsb/train.jsonl", ("sentence1", "sentence2")),
    ("pairs/mrpc/train.jsonl", ("sentence1", "sentence2")),
    ("nli/pairs.jsonl.gz", ("premise", "hypothesis")),
    ("nli/train.jsonl.gz", ("anchor", "positive", "negative")),
    ("beir/scifact/corpus.jsonl", ("title", "text")),
    ("beir/cranfield/corpus.jsonl", ("title", "text")),
)
BEIR_DATASETS = ("scifact", "cranfield")
# Every file the evaluation suite (or training's dev evaluation) scores, as glob patterns under the data root.
EVALUATION_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sts/*/dev.jsonl", ("sentence1", "sentence2")),
    ("sts/*/test.jsonl", ("sentence1", "sentence2")),
    ("pairs/*/test.jsonl", ("sentence1", "sentence2")),
    ("classification/*/test.jsonl", ("text",)),
)


@dataclass(frozen=True)
class PretrainCorpus:
    """The de-duplicated training texts, in source order, and counts of what was read, removed and kept."""

    texts: list[str]
    report: dict


def text_key(text: str) -> str:
    """What two texts must share to count as the same: lower-cased words, punctuation and spacing ignored.

    SNLI is pre-tokenised ("packages .") and SST-2 lower-cased, so exact matching would miss real copies.
    """
    return " ".join(re.findall(r"\w+", text.casefold()))


def build_corpus() -> PretrainCorpus:
    """Read every source under the data root, drop evaluation texts and duplicates, and count both."""
    held_out, evaluation_report = _evaluation_keys()
    kept: dict[str, str] = {}
    sources: dict[str, dict[str, int]] = {}
    for name, texts in _training_sources():
        counts = {"read": 0, "evaluation": 0, "duplicate": 0, "kept": 0}
        for text in texts:
            key = text_key(text)
            if not key:
                continue
            counts["read"] += 1
            if key in held_out:
                counts["evaluation"] += 1
            elif key in kept:
                counts["duplicate"] += 1
            else:
                kept[key] = text
                counts["kept"] += 1
        sources[name] = counts
    if not kept:
        raise EmbedlabError(f"no pretraining text under the data root {data_root()} (set EMBEDLAB_DATA)")
    report = {
        "sources": sources,
        "evaluation_texts": evaluation_report,
        "removed_as_evaluation_text": sum(c["evaluation"] for c in sources.values()),
        "duplicates_removed": sum(c["duplicate"] for c in sources.values()),
        "texts": len(kept),
        "characters": sum(len(text) for text in kept.values()),
    }
    return PretrainCorpus(list(kept.values()), report)


def _optional_text(value: object) -> str:
    # Missing or null fields read as "": Cranfield docs 471 and 995 have no text, which is not an error here.
    return value if isinstance(value, str) else ""


def _field_texts(path: Path, fields: tuple[str, ...]) -> list[str]:
    """The non-empty texts of a jsonl file; a BEIR title and text become one document, as BEIR encodes it."""
    rows = read_jsonl_rows(path, {name: _optional_text for name in fields})
    if fields == ("title", "text"):
        return [text for title, body in rows if (text := doc_text(title, body))]
    return [text.strip() for row in rows for text in row if text.strip()]


def _training_sources() -> Iterable[tuple[str, list[str]]]:
    for relative, fields in SOURCES:
        path = dataset_path(*relative.split("/"))
        if path is not None:
            yield relative, _field_texts(path, fields)
    for name in BEIR_DATASETS:
        directory = dataset_path("beir", name)
        if directory is not None and (directory / "qrels" / "train.tsv").is_file():
            # Train claims may teach; a claim also judged in test is caught by the evaluation keys.
            yield f"beir/{name}/queries.jsonl (train)", list(load_beir(directory, split="train").queries.values())


def _evaluation_keys() -> tuple[set[str], dict[str, int]]:
    """Keys of every text an evaluation scores, and how many distinct texts each file contributed."""
    keys: set[str] = set()
    report: dict[str, int] = {}
    root = data_root()

    def add(name: str, texts: Iterable[str]) -> None:
        found = {key for key in map(text_key, texts) if key}
        report[name] = len(found)
        keys.update(found)

    for pattern, fields in EVALUATION_FILES:
        for path in sorted(root.glob(pattern)):
            add(path.relative_to(root).as_posix(), _field_texts(path, fields))
    for name in BEIR_DATASETS:
        directory = dataset_path("beir", name)
        if directory is not None:
            add(f"beir/{name}/queries.jsonl (not train-only)", _evaluation_queries(directory))
    return keys, report


def _evaluation_queries(directory: Path) -> list[str]:
    """Every query except those judged only in the train split: all of Cranfield's, SciFact's 300 test claims."""
    rows = read_jsonl_rows(directory / "queries.jsonl", {"_id": str, "text": _optional_text})
    train, test = (_judged_ids(directory, split) for split in ("train", "test"))
    return [text for query_id, text in rows if query_id not in train or query_id in test]


def _judged_ids(directory: Path, split: str) -> set[str]:
    return set(load_beir(directory, split=split).queries) if (directory / "qrels" / f"{split}.tsv").is_file() else set()
