"""HNSW build settings and libraries against each other: build seconds and recall@10 at several beam widths.

Picks faiss_store.HnswConfig's defaults: a lower efConstruction builds faster; this shows what it costs in recall,
and whether another well-kept HNSW library (hnswlib, usearch; `make hnsw-peers`) builds the same graph faster.
Usage: python benchmarks/hnsw_settings.py --n 100000 --queries 300 32:200 32:80 32:48   (M:efConstruction)
       python benchmarks/hnsw_settings.py --n 1000000 --libraries faiss,hnswlib,usearch 32:80
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import faiss
import numpy as np
from index_search import synthetic_corpus

Search = Callable[[np.ndarray, int], np.ndarray]  # (queries, efSearch) -> ids of the top 10


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[:10]) & set(b)) / 10 for a, b in zip(found, truth)]))


def build_faiss(vectors: np.ndarray, m: int, ef_construction: int) -> Search:
    index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(vectors)
    return lambda queries, ef: index.search(queries, 10, params=faiss.SearchParametersHNSW(efSearch=ef))[1]


def build_hnswlib(vectors: np.ndarray, m: int, ef_construction: int) -> Search:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), ef_construction=ef_construction, M=m)
    index.add_items(vectors, num_threads=os.cpu_count())

    def search(queries: np.ndarray, ef: int) -> np.ndarray:
        index.set_ef(ef)
        return index.knn_query(queries, k=10)[0]

    return search


def build_usearch(vectors: np.ndarray, m: int, ef_construction: int) -> Search:
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="ip", dtype="f32", connectivity=m, expansion_add=ef_construction)
    index.add(np.arange(len(vectors)), vectors)

    def search(queries: np.ndarray, ef: int) -> np.ndarray:
        index.expansion_search = ef
        return np.atleast_2d(index.search(queries, 10).keys)

    return search


BUILDERS = {"faiss": build_faiss, "hnswlib": build_hnswlib, "usearch": build_usearch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help="M:efConstruction pairs")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--latency-queries", type=int, default=100, help="queries searched one at a time")
    parser.add_argument("--ef-search", default="64,128", help="comma-separated beam widths to search with")
    parser.add_argument("--libraries", default="faiss", help=f"comma-separated, of {', '.join(BUILDERS)}")
    args = parser.parse_args()
    libraries = args.libraries.split(",")
    if unknown := set(libraries) - set(BUILDERS):
        parser.error(f"unknown libraries {sorted(unknown)}; choose from {', '.join(BUILDERS)}")
    corpus = synthetic_corpus(args.n, args.queries, 384, 1_000)
    _, truth = faiss.knn(corpus.queries, corpus.vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    for setting in args.settings:
        m, ef_construction = (int(part) for part in setting.split(":"))
        for library in libraries:
            start = time.perf_counter()
            search = BUILDERS[library](corpus.vectors, m, ef_construction)
            build_s = time.perf_counter() - start
            for ef_search in (int(width) for width in args.ef_search.split(",")):
                start = time.perf_counter()
                found = search(corpus.queries, ef_search)
                queries_per_s = len(corpus.queries) / (time.perf_counter() - start)
                times = []
                for query in corpus.queries[: args.latency_queries]:
                    start = time.perf_counter()
                    search(query[None], ef_search)
                    times.append(1000 * (time.perf_counter() - start))
                p50, p99 = np.percentile(times, [50, 99])
                print(f"{library} M {m} efConstruction {ef_construction} n {args.n:,}: build {build_s:.1f} s; "
                      f"efSearch {ef_search}: recall@10 {recall_at_10(found, truth):.4f}, {queries_per_s:,.0f} "
                      f"queries/s, single query p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)


if __name__ == "__main__":
    main()
