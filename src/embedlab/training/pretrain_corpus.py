"""The local text corpus for MLM pretraining, with every evaluation text removed.

A model pretrained on the sentences it is later scored on would flatter itself, so those never enter.
"""

from __future__ import annotations

from pathlib import Path

from embedlab.data.beir import load_beir
from embedlab.data.labeled import read_jsonl_rows
from embedlab.data.root import dataset_path

# (path parts, text fields) read for training text.
SOURCES = [
    (("sts", "stsb", "train.jsonl"), ("sentence1", "sentence2")),
    (("pairs", "mrpc", "train.jsonl"), ("sentence1", "sentence2")),
    (("nli", "pairs.jsonl.gz"), ("premise", "hypothesis")),
    (("beir", "scifact", "corpus.jsonl"), ("title", "text")),
    (("beir", "cranfield", "corpus.jsonl"), ("title", "text")),
]
# Texts that evaluations score: removed wherever they also appear in a source.
EVALUATION_TEXTS = [
    (("sts", "stsb", "dev.jsonl"), ("sentence1", "sentence2")),
    (("sts", "stsb", "test.jsonl"), ("sentence1", "sentence2")),
    (("pairs", "mrpc", "test.jsonl"), ("sentence1", "sentence2")),
    (("classification", "banking77", "test.jsonl"), ("text",)),
    (("classification", "trec", "test.jsonl"), ("text",)),
    (("classification", "sst2", "test.jsonl"), ("text",)),
]


def _texts(path: Path, keys: tuple[str, ...]) -> list[str]:
    # Some corpora have empty titles or texts (Cranfield 471 and 995): those are skipped, not errors.
    rows = read_jsonl_rows(path, {key: lambda v: v if isinstance(v, str) else "" for key in keys})
    return [text.strip() for row in rows for text in row if text.strip()]


def build_corpus() -> tuple[list[str], dict]:
    """De-duplicated training texts from the data root, evaluation texts removed, and a report of counts."""
    held_out: set[str] = set()
    for parts, keys in EVALUATION_TEXTS:
        path = dataset_path(*parts)
        if path is not None:
            held_out.update(_texts(path, keys))
    for name in ("scifact", "cranfield"):
        directory = dataset_path("beir", name)
        if directory is not None:
            held_out.update(load_beir(directory, split="test").queries.values())
    report: dict = {"sources": {}, "evaluation_texts": len(held_out)}
    seen: dict[str, None] = {}
    removed = duplicates = 0
    for parts, keys in SOURCES:
        path = dataset_path(*parts)
        if path is None:
            continue
        texts = _texts(path, keys)
        report["sources"]["/".join(parts)] = len(texts)
        for text in texts:
            if text in held_out:
                removed += 1
            elif text in seen:
                duplicates += 1
            else:
                seen[text] = None
    report.update(removed_as_evaluation_text=removed, duplicates_removed=duplicates, texts=len(seen))
    return list(seen), report

