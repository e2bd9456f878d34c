"""What to mine for: anchors, each with its positive in a pool of candidate texts and the pool rows known relevant.

Built from a BEIR directory (queries, qrels, corpus) or from a plain pair file (the pool is its positives).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from embedlab.data.beir import load_beir, resolve_beir_dir
from embedlab.data.training_sets import read_pairs
from embedlab.errors import EmbedlabError


@dataclass(frozen=True)
class MiningTask:
    """Row i is (anchors[i], pool[positives[i]]); known[i] holds every pool row labelled relevant to anchor i."""

    name: str
    anchors: list[str]
    positives: list[int]
    pool: list[str]
    known: list[frozenset[int]]

    def __post_init__(self) -> None:
        if not self.anchors:
            raise EmbedlabError(f"{self.name}: nothing to mine for (no anchor/positive pairs)")
        if not len(self.anchors) == len(self.positives) == len(self.known):
            raise EmbedlabError(f"{self.name}: anchors, positives and known differ in length")
        if any(not 0 <= p < len(self.pool) or p not in k for p, k in zip(self.positives, self.known)):
            raise EmbedlabError(f"{self.name}: every positive must be a pool row and among its anchor's known rows")


def positives_only(task: MiningTask) -> MiningTask:
    """The same anchors over a pool of only the texts that are some anchor's positive (rows renumbered)."""
    rows = sorted(set(task.positives))
    renumbered = {old: new for new, old in enumerate(rows)}
    return MiningTask(
        task.name,
        task.anchors,
        [renumbered[p] for p in task.positives],
        [task.pool[r] for r in rows],
        [frozenset(renumbered[r] for r in known if r in renumbered) for known in task.known],
    )


def beir_task(directory: str | Path, split: str = "train") -> MiningTask:
    """Every (query, relevant document) pair of a BEIR split; the pool is the whole corpus."""
    dataset = load_beir(directory, split)
    row = {doc_id: i for i, doc_id in enumerate(dataset.doc_ids())}
    anchors, positives, known = [], [], []
    for query_id, judged in dataset.qrels.items():
        relevant = frozenset(row[d] for d, relevance in judged.items() if relevance > 0)
        for doc_id, relevance in judged.items():
            if relevance > 0:
                anchors.append(dataset.queries[query_id])
                positives.append(row[doc_id])
                known.append(relevant)
    return MiningTask(dataset.name, anchors, positives, dataset.doc_texts(), known)


def pairs_task(path: str | Path) -> MiningTask:
    """Every (anchor, positive) row of a pair file; the pool is the distinct positives, each anchor's own known."""
    pairs = read_pairs(path)
    pool = list(dict.fromkeys(pairs.columns["positive"]))
    row = {text: i for i, text in enumerate(pool)}
    relevant: dict[str, set[int]] = {}
    for anchor, positive in zip(pairs.columns["anchor"], pairs.columns["positive"]):
        relevant.setdefault(anchor, set()).add(row[positive])
    anchors = pairs.columns["anchor"]
    return MiningTask(
        Path(path).stem,
        list(anchors),
        [row[p] for p in pairs.columns["positive"]],
        pool,
        [frozenset(relevant[a]) for a in anchors],
    )


def load_mining_task(path: str | Path, split: str = "train") -> MiningTask:
    """A BEIR directory (or dataset name under the data root) or a pair .jsonl file."""
    location = Path(path).expanduser()
    if location.is_file():
        return pairs_task(location)
    return beir_task(resolve_beir_dir(path), split)
