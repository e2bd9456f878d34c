"""Mining itself: candidates from a source, false-negative filters, a count per anchor, and a report of what was
dropped.

The filters exist because unlabelled positives are common in retrieval data; training against them hurts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from embedlab.atomic import write_json, write_text
from embedlab.data.corpus import ChunkConfig, Document, chunk_document, token_spans
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.mining.config import MODEL_SOURCES, MiningConfig
from embedlab.mining.scoring import rank_of, ranked_rows, score_blocks
from embedlab.mining.task import MiningTask, positives_only
from embedlab.progress import progress_bar
from embedlab.similarity import unit_rows

DEFAULT_CONFIG = MiningConfig()  # frozen, so one shared default is safe


class Judge(Protocol):
    """A relevance scorer for (anchor, candidate) pairs, such as a CrossEncoder: higher means relevant."""

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray: ...


@dataclass
class MiningReport:
    """How many anchors got negatives, and why every rejected candidate was rejected."""

    source: str
    anchors: int
    written: int = 0
    dropped: int = 0
    selected: int = 0
    filtered: dict[str, int] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MiningResult:
    """Triplet rows ({anchor, positive, negatives}) and the report."""

    rows: list[dict]
    report: MiningReport


@dataclass(frozen=True)
class _Candidates:
    """One anchor's surviving candidates in the order they may be taken, and the positive to write."""

    positive: str
    texts: list[str]


def mine(
    task: MiningTask,
    config: MiningConfig = DEFAULT_CONFIG,
    model: Embedder | None = None,
    judge: Judge | None = None,
    show_progress: bool = False,
) -> MiningResult:
    """Mine `config.count` negatives per anchor of `task`; `model` is needed by the dense and same_document sources.

    Anchors left with fewer candidates than `count` are dropped and counted in the report.
    """
    if config.source in MODEL_SOURCES and model is None:
        raise EmbedlabError(f"the {config.source} source needs a model to score candidates")
    if config.pool == "positives":
        task = positives_only(task)
    reasons: Counter[str] = Counter()
    report = MiningReport(source=config.source, anchors=len(task.anchors), settings=asdict(config))
    rows = []
    with progress_bar(len(task.anchors), "mining", show_progress) as advance:
        for i, candidates in _candidates(task, config, model, reasons):
            negatives = _take(i, task.anchors[i], candidates.texts, config, judge, reasons)
            advance(1)
            if len(negatives) < config.count:
                report.dropped += 1
                continue
            rows.append({"anchor": task.anchors[i], "positive": candidates.positive, "negatives": negatives})
    report.written, report.selected = len(rows), len(rows) * config.count
    report.filtered = dict(sorted(reasons.items()))
    return MiningResult(rows, report)


def write_triplets(result: MiningResult, path: str | Path) -> tuple[Path, Path]:
    """The rows as jsonl (what `embedlab train` reads as `triplets`) and the report beside it (.report.json)."""
    path = Path(path)
    if not result.rows:
        raise EmbedlabError("no anchor kept enough negatives; nothing to write (loosen the filters or lower count)")
    write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in result.rows), path)
    report_path = path.with_name(path.name.removesuffix(".jsonl") + ".report.json")
    return path, write_json(result.report.to_dict(), report_path)


def _candidates(
    task: MiningTask, config: MiningConfig, model: Embedder | None, reasons: Counter
) -> Iterator[tuple[int, _Candidates]]:
    if config.source == "random":
        yield from _random_candidates(task, config, reasons)
    elif config.source == "same_document":
        yield from _same_document_candidates(task, config, model, reasons)
    else:
        for start, scores in score_blocks(task, config, model):
            for offset, row_scores in enumerate(scores):
                i = start + offset
                yield (
                    i,
                    _Candidates(task.pool[task.positives[i]], _ranked_candidates(task, i, row_scores, config, reasons)),
                )


def _ranked_candidates(
    task: MiningTask, i: int, scores: np.ndarray, config: MiningConfig, reasons: Counter
) -> list[str]:
    """Pool texts ranked in the window that pass the known-positive, rank and margin filters, best first."""
    first, last = config.window
    positive = task.positives[i]
    positive_rank, positive_score = rank_of(scores, positive), float(scores[positive])
    kept = []
    for rank, row in enumerate(ranked_rows(scores, last)[first - 1 :], start=first):
        reason = _known(task, i, int(row))
        if reason is None and config.skip_above_positive and rank < positive_rank:
            reason = "above_positive"
        if reason is None and config.margin is not None and scores[row] > config.margin * positive_score:
            reason = "margin"
        if reason is None:
            kept.append(task.pool[row])
        else:
            reasons[reason] += 1
    return kept


def _known(task: MiningTask, i: int, row: int) -> str | None:
    """Why a pool row can never be a negative for anchor i: it is labelled relevant, or it is the same text."""
    if row in task.known[i]:
        return "known_positive"
    if task.pool[row] in (task.pool[task.positives[i]], task.anchors[i]):
        return "same_text"
    return None


def _random_candidates(task: MiningTask, config: MiningConfig, reasons: Counter) -> Iterator[tuple[int, _Candidates]]:
    """The control: pool texts in a seeded random order, only labelled positives and identical texts removed."""
    for i in range(len(task.anchors)):
        order = np.random.default_rng([config.seed, i]).permutation(len(task.pool))
        kept = []
        for row in order:
            reason = _known(task, i, int(row))
            if reason is not None:
                reasons[reason] += 1
                continue
            kept.append(task.pool[row])
            if len(kept) == config.count * 4:  # enough for a judge to reject some; the rest is never looked at
                break
        yield i, _Candidates(task.pool[task.positives[i]], kept)


def _same_document_candidates(
    task: MiningTask, config: MiningConfig, model: Embedder | None, reasons: Counter
) -> Iterator[tuple[int, _Candidates]]:
    """Other passages of the positive's document; the positive becomes the passage the model ranks best.

    A whole document as positive against its own passages would teach "the longer text wins"; passages that
    overlap the positive passage share its words and are skipped.
    """
    documents = sorted(set(task.positives))
    # The index's chunker, counting words: the same windows a search over chunks would hit.
    words, windows = token_spans(None), ChunkConfig(config.passage_words, config.passage_overlap)
    passages = {doc: chunk_document(Document(str(doc), task.pool[doc]), words, windows) for doc in documents}
    flat = [(doc, j) for doc in documents for j in range(len(passages[doc]))]
    vectors = unit_rows(model.encode_documents([passages[d][j].text for d, j in flat], batch_size=config.batch_size))
    where = {key: n for n, key in enumerate(flat)}
    queries = unit_rows(model.encode_queries(task.anchors, task=config.query_task, batch_size=config.batch_size))
    for i, doc in enumerate(task.positives):
        parts = passages[doc]
        scores = vectors[[where[(doc, j)] for j in range(len(parts))]] @ queries[i] if parts else np.zeros(0)
        if len(parts) < 2:
            reasons["single_passage"] += 1
            yield i, _Candidates(task.pool[doc], [])
            continue
        best = int(np.argmax(scores))
        kept = []
        for j in np.lexsort((np.arange(len(parts)), -scores)):
            if j == best:
                continue
            if parts[j].overlaps(parts[best]):
                reasons["overlaps_positive"] += 1
            elif config.margin is not None and scores[j] > config.margin * scores[best]:
                reasons["margin"] += 1
            else:
                kept.append(parts[j].text)
        yield i, _Candidates(parts[best].text, kept)


def _take(
    i: int, anchor: str, texts: list[str], config: MiningConfig, judge: Judge | None, reasons: Counter
) -> list[str]:
    """The first `count` candidates in sampling order that the judge (if any) does not call relevant.

    The judge is asked about a few candidates at a time, so a cross-encoder scores only what might be kept.
    """
    texts = list(dict.fromkeys(texts))  # a text twice in one row would be two copies of one negative
    if config.sampling == "random":
        rng = np.random.default_rng([config.seed, i])
        texts = [texts[k] for k in rng.permutation(len(texts))]
    if judge is None:
        return texts[: config.count]
    kept: list[str] = []
    for start in range(0, len(texts), config.count):
        chunk = texts[start : start + config.count]
        scores = np.asarray(judge.predict([(anchor, text) for text in chunk], batch_size=config.batch_size))
        for text, score in zip(chunk, scores):
            if score >= config.judge_threshold:
                reasons["judge"] += 1
            elif len(kept) < config.count:
                kept.append(text)
        if len(kept) == config.count:
            break
    return kept

