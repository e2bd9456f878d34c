"""FAISS HNSW build settings against each other: build seconds and recall@10 at two beam widths, same vectors.

Picks faiss_store.HnswConfig's defaults: a lower efConstruction builds faster; this shows what it costs in recall.
Usage: python benchmarks/hnsw_settings.py --n 100000 --queries 300 32:200 32:80 32:48   (M:efConstruction)
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
from index_search import synthetic_corpus


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[:10]) & set(b)) / 10 for a, b in zip(found, truth)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="M:efConstruction pairs")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--latency-queries", type=int, default=100, help="queries searched one at a time")
    parser.add_argument("--ef-search", default="64,128", help="comma-separated beam widths to search with")
    args = parser.parse_args()
    corpus = synthetic_corpus(args.n, args.queries, 384, 1_000)
    _, truth = faiss.knn(corpus.queries, corpus.vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    for setting in args.settings:
        m, ef_construction = (int(part) for part in setting.split(":"))
        start = time.perf_counter()
        index = faiss.IndexHNSWFlat(corpus.vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(corpus.vectors)
        build_s = time.perf_counter() - start
        for ef_search in (int(width) for width in args.ef_search.split(",")):
            start = time.perf_counter()
            _, found = index.search(corpus.queries, 10, params=faiss.SearchParametersHNSW(efSearch=ef_search))
            queries_per_s = len(corpus.queries) / (time.perf_counter() - start)
            times = []
            for query in corpus.queries[: args.latency_queries]:
                start = time.perf_counter()
                index.search(query[None], 10, params=faiss.SearchParametersHNSW(efSearch=ef_search))
                times.append(1000 * (time.perf_counter() - start))
            p50, p99 = np.percentile(times, [50, 99])
            print(f"M {m} efConstruction {ef_construction} n {args.n:,}: build {build_s:.1f} s; efSearch {ef_search}: "
                  f"recall@10 {recall_at_10(found, truth):.4f}, {queries_per_s:,.0f} queries/s, single query p50 "
                  f"{p50:.2f} ms, p99 {p99:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
