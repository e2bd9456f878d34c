"""What makes an embedding space good, measured: anisotropy, alignment, uniformity, rank, separation.

After Ethayarajh (2019) and Wang & Isola (2020); a trained model scores pairs apart, an untrained one crowds a cone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp
from scipy.stats import rankdata, spearmanr

from embedlab.data.texts import read_texts
from embedlab.embedder import Embedder
from embedlab.errors import EmbedlabError
from embedlab.files import json_line, open_text
from embedlab.similarity import pairwise_cosine, unit_rows

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _matrix(emb: Any) -> np.ndarray:
    """`emb` as a float64 (n, d) array with n >= 2, the fewest rows that form a pair."""
    m = np.asarray(emb, dtype=np.float64)
    if m.ndim != 2 or len(m) < 2 or m.shape[1] < 1:
        raise EmbedlabError(f"need at least 2 embeddings as an (n, d) array, got shape {m.shape}")
    return m


def _unit_rows(emb: Any) -> np.ndarray:
    """Checked rows scaled to length 1; zero rows stay zero so they add 0, never NaN."""
    return unit_rows(_matrix(emb))


def anisotropy(emb: Any) -> float:
    """Mean cosine over all distinct pairs of rows (Ethayarajh 2019): near 1 when every text shares one direction.

    Exact in O(n d): the sum over i != j of u_i.u_j is |sum u|^2 - sum |u_i|^2, so no pair sampling is needed.
    """
    u = _unit_rows(emb)
    total = u.sum(axis=0)
    n = len(u)
    return float(np.clip((total @ total - (u * u).sum()) / (n * (n - 1)), -1.0, 1.0))


def anisotropy_centered(emb: Any) -> float:
    """Anisotropy after subtracting the mean vector: what is left once the common direction is removed.

    Centred vectors sum to 0, so this sits near -1/(n-1) unless their lengths differ a lot; compare with anisotropy.
    """
    m = _matrix(emb)
    return anisotropy(m - m.mean(axis=0))


def alignment(x: Any, y: Any, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs of unit vectors (Wang & Isola 2020): 0 is perfect, 2^alpha worst."""
    dist = np.sqrt(np.maximum(2.0 - 2.0 * pairwise_cosine(x, y).astype(np.float64), 0.0))
    if len(dist) == 0:
        raise EmbedlabError("alignment needs at least one positive pair")
    return float(np.mean(dist**alpha))


def sample_pairs(n: int, n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n_pairs` uniformly random ordered pairs (i, j) of distinct rows out of `n`."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, n_pairs)
    return i, (i + rng.integers(1, n, n_pairs)) % n  # a non-zero offset never lands on i itself


def uniformity(emb: Any, t: float = 2.0, *, exact_limit: int = 4096, n_pairs: int = 100_000, seed: int = 0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over pairs of unit vectors (Wang & Isola 2020): lower is more uniform.

    Exact over all pairs up to `exact_limit` rows, else over `n_pairs` random pairs; logsumexp keeps it finite.
    """
    u = _unit_rows(emb)
    sq = (u * u).sum(axis=1)
    if len(u) <= exact_limit:
        parts, count = [], 0
        for start in range(0, len(u) - 1, 512):  # row blocks of the upper triangle keep memory at 512 x n
            block = slice(start, start + 512)
            d2 = sq[block, None] + sq[None, start + 1 :] - 2.0 * (u[block] @ u[start + 1 :].T)
            upper = np.triu(np.ones(d2.shape, dtype=bool))
            parts.append(logsumexp(-t * np.maximum(d2[upper], 0.0)))
            count += int(upper.sum())
        return min(float(logsumexp(parts) - np.log(count)), 0.0)
    i, j = sample_pairs(len(u), n_pairs, seed)
    d2 = np.maximum(((u[i] - u[j]) ** 2).sum(axis=1), 0.0)
    return min(float(logsumexp(-t * d2) - np.log(n_pairs)), 0.0)  # rounding must not lift it above its bound


def effective_rank(emb: Any) -> float:
    """exp(entropy of the singular values scaled to sum 1) (Roy & Vetterli 2007): how many directions are used.

    Between 1 and min(n, d) for a non-zero matrix; 0 for an all-zero one, which uses no direction.
    """
    m = _matrix(emb)
    s = np.linalg.svd(m, compute_uv=False)
    if s.sum() <= 0:
        return 0.0
    p = s[s > 0] / s.sum()
    return float(np.clip(np.exp(-(p * np.log(p)).sum()), 1.0, min(m.shape)))  # clip only rounding


def top_pc_variance_share(emb: Any, k: Sequence[int] = (1, 10)) -> dict[int, float]:
    """Share of the total variance on the top-k principal components, for each k; 0 when nothing varies."""
    m = _matrix(emb)
    var = np.linalg.svd(m - m.mean(axis=0), compute_uv=False) ** 2
    total = var.sum()
    return {int(kk): float(var[:kk].sum() / total) if total > 0 else 0.0 for kk in k}


@dataclass(frozen=True)
class CosineStats:
    """Mean, spread and quantiles (keys q05 ... q95) of a set of cosine similarities."""

    count: int
    mean: float
    std: float
    quantiles: dict[str, float]


def cosine_stats(cosines: Any) -> CosineStats:
    """Summarise cosines (of positive or of random pairs) so their distributions can be compared in numbers."""
    c = np.asarray(cosines, dtype=np.float64)
    if c.size == 0:
        raise EmbedlabError("no cosines to summarise")
    qs = np.quantile(c, QUANTILES)
    quantiles = {f"q{round(q * 100):02d}": float(v) for q, v in zip(QUANTILES, qs)}
    return CosineStats(int(c.size), float(c.mean()), float(c.std()), quantiles)


def separation_auc(positive: Any, random: Any) -> float:
    """P(a positive pair's cosine > a random pair's), ties counting half (ROC AUC): 0.5 means no separation."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(random, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        raise EmbedlabError("separation needs positive and random cosines")
    rank_sum = rankdata(np.concatenate([pos, neg]))[: pos.size].sum()
    return float((rank_sum - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def distribution_overlap(positive: Any, random: Any, bins: int = 50) -> float:
    """Shared area of the two cosine histograms on [-1, 1]: 1 when indistinguishable, 0 when disjoint."""
    p, _ = np.histogram(positive, bins=bins, range=(-1.0, 1.0))
    q, _ = np.histogram(random, bins=bins, range=(-1.0, 1.0))
    if p.sum() == 0 or q.sum() == 0:
        raise EmbedlabError("overlap needs positive and random cosines")
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def granularity(cosines: Any, gold: Any, min_score: float = 3.5) -> float | None:
    """Spearman of cosine vs gold over pairs with gold >= min_score: can the model still order near-paraphrases?

    None when fewer than 3 such pairs or either side is constant, where a rank correlation is undefined.
    """
    c, g = np.asarray(cosines, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    keep = g >= min_score
    if keep.sum() < 3 or np.ptp(c[keep]) == 0 or np.ptp(g[keep]) == 0:
        return None
    return float(spearmanr(c[keep], g[keep]).statistic)


@dataclass
class DiagnoseInput:
    """Texts to diagnose: aligned pairs left[i], right[i] or, with right None, loose texts.

    `scores` are gold similarities 0-5 (positives: score >= threshold); `labels` mark positives directly.
    """

    left: list[str]
    right: list[str] | None = None
    scores: list[float] | None = None
    labels: list[bool] | None = None

    def __post_init__(self) -> None:
        lengths = {len(v) for v in (self.right, self.scores, self.labels) if v is not None}
        if lengths - {len(self.left)} or (self.right is None and (self.scores or self.labels)):
            raise EmbedlabError(f"right, scores and labels must pair up with the {len(self.left)} left texts")


def read_diagnose_input(path: str | os.PathLike, max_rows: int | None = None) -> DiagnoseInput:
    """Read `.txt` (a text per line) or `.jsonl[.gz]` rows with sentence1/sentence2[/score|label] or anchor/positive."""
    path = Path(path)
    if not path.is_file():
        raise EmbedlabError(f"no input file at {path}")
    if path.name.endswith(".txt"):
        return DiagnoseInput([t for t in read_texts(path) if t.strip()][:max_rows])
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise EmbedlabError(f"{path}: diagnose reads .txt, .jsonl or .jsonl.gz files")
    rows: list[dict] = []
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if max_rows is not None and len(rows) >= max_rows:
                    break
                if line.strip():
                    rows.append(_pair_row(line, f"{path}:{number}"))
    except (OSError, EOFError, UnicodeDecodeError) as err:  # BadGzipFile is an OSError
        raise EmbedlabError(f"cannot read {path}: {err}") from None
    left, right = [r["left"] for r in rows], [r["right"] for r in rows]
    return DiagnoseInput(left, right, _column(rows, "score", path), _column(rows, "label", path))


def _pair_row(line: str, where: str) -> dict:
    row = json_line(line, where)
    for a, b in (("sentence1", "sentence2"), ("anchor", "positive")):
        if isinstance(row, dict) and isinstance(row.get(a), str) and isinstance(row.get(b), str):
            return {"left": row[a], "right": row[b], "score": row.get("score"), "label": row.get("label")}
    raise EmbedlabError(f"{where} needs string fields sentence1/sentence2 or anchor/positive")


def _column(rows: list[dict], key: str, path: Path) -> list | None:
    """A per-row value present on every row, or None when on none; a partial column is an input error."""
    values = [r[key] for r in rows]
    if all(v is None for v in values):
        return None
    if any(not isinstance(v, (int, float)) for v in values):
        raise EmbedlabError(f"{path}: {key!r} must be a number on every row or on none")
    return [float(v) if key == "score" else bool(v) for v in values]


@dataclass(frozen=True)
class DiagnoseConfig:
    """Settings of a diagnosis; defaults suit STS-style data with gold scores 0-5."""

    n_random_pairs: int = 20_000  # behind the random-pair cosine distribution
    uniformity_exact_limit: int = 4096  # all pairs up to this many texts, else sampled
    seed: int = 0
    alpha: float = 2.0
    t: float = 2.0
    positive_min_score: float = 4.0
    granularity_min_score: float = 3.5
    top_k: tuple[int, ...] = (1, 10)
    max_rows: int | None = 5000  # of an input file; the first rows are taken
    batch_size: int = 32


@dataclass
class DiagnosticsReport:
    """Every number of one diagnosis, plus the unit embeddings and cosines that the plots draw (not in to_dict)."""

    model: str
    source: str
    n_texts: int
    dim: int
    anisotropy: float
    anisotropy_centered: float
    uniformity: float
    effective_rank: float
    top_pc_share: dict[int, float]
    random_pairs: CosineStats
    config: DiagnoseConfig
    n_pairs: int = 0
    alignment: float | None = None
    positive_pairs: CosineStats | None = None
    auc: float | None = None
    overlap: float | None = None
    spearman: float | None = None
    granularity: float | None = None
    n_granularity_pairs: int = 0
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    random_cosines: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    positive_cosines: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        arrays = ("embeddings", "random_cosines", "positive_cosines")
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in arrays}
        return {k: asdict(v) if is_dataclass(v) else v for k, v in values.items()}


def diagnose_embeddings(
    embeddings: Any, config: DiagnoseConfig = DiagnoseConfig(), *, model: str = "embeddings", source: str = "array"
) -> DiagnosticsReport:
    """The pair-free part of a diagnosis: the geometry of the embeddings alone."""
    u = _unit_rows(embeddings)
    i, j = sample_pairs(len(u), config.n_random_pairs, config.seed)
    random_cosines = (u[i] * u[j]).sum(axis=1)
    return DiagnosticsReport(
        model=model,
        source=source,
        n_texts=len(u),
        dim=u.shape[1],
        anisotropy=anisotropy(u),
        anisotropy_centered=anisotropy_centered(u),
        uniformity=uniformity(u, config.t, exact_limit=config.uniformity_exact_limit, seed=config.seed),
        effective_rank=effective_rank(u),
        top_pc_share=top_pc_variance_share(u, config.top_k),
        random_pairs=cosine_stats(random_cosines),
        config=config,
        embeddings=u.astype(np.float32),
        random_cosines=random_cosines,
    )


def diagnose(
    model: Embedder,
    data: str | os.PathLike | DiagnoseInput | Sequence[tuple[str, str]],
    config: DiagnoseConfig = DiagnoseConfig(),
) -> DiagnosticsReport:
    """Encode the distinct texts of `data` (a file, a DiagnoseInput or (text, text) pairs) and measure the space.

    Pair metrics (alignment, separation, Spearman, granularity) need pairs; space metrics use each text once.
    """
    if isinstance(data, (str, os.PathLike)):
        source, data = str(data), read_diagnose_input(data, config.max_rows)
    elif not isinstance(data, DiagnoseInput):
        source, data = "pairs", DiagnoseInput([a for a, _ in data], [b for _, b in data])
    else:
        source = "input"
    # Duplicates (STS-B repeats sentences) would add cosine-1 pairs and inflate anisotropy, so each text counts once.
    index = {text: k for k, text in enumerate(dict.fromkeys(data.left + (data.right or [])))}
    if len(index) < 2:
        raise EmbedlabError(f"diagnose needs at least 2 distinct texts, got {len(index)}")
    embeddings = model.encode(list(index), batch_size=config.batch_size)
    report = diagnose_embeddings(embeddings, config, model=model.name, source=source)
    if not data.right:
        return report
    left, right = report.embeddings[[index[t] for t in data.left]], report.embeddings[[index[t] for t in data.right]]
    cosines = pairwise_cosine(left, right)
    if data.labels is not None:
        positive = np.array(data.labels)
    elif data.scores is not None:
        positive = np.array(data.scores) >= config.positive_min_score
    else:
        positive = np.ones(len(cosines), dtype=bool)
    report.n_pairs = len(cosines)
    if positive.any():
        report.positive_cosines = cosines[positive]
        report.alignment = alignment(left[positive], right[positive], config.alpha)
        report.positive_pairs = cosine_stats(report.positive_cosines)
        report.auc = separation_auc(report.positive_cosines, report.random_cosines)
        report.overlap = distribution_overlap(report.positive_cosines, report.random_cosines)
    if data.scores is not None:
        gold = np.array(data.scores)
        report.spearman = granularity(cosines, gold, min_score=-np.inf)  # the same correlation over every pair
        report.granularity = granularity(cosines, gold, config.granularity_min_score)
        report.n_granularity_pairs = int((gold >= config.granularity_min_score).sum())
    return report
