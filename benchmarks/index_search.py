"""Vector stores against exact search: recall@10, queries/s, single-query latency, build time and bytes per vector.

On SciFact embedded by all-MiniLM-L6-v2 (with nDCG@10), on a synthetic clustered corpus, and Milvus embedded on both.
index.json keeps one run per CPU class (common.cpu_class), so a run on another class leaves the earlier tables in place.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from common import REPORTS, ROOT, cpu_class, load_store, measured_at, recorded_header, write_report

from embedlab import Encoder
from embedlab.data import dataset_path, load_beir
from embedlab.evaluation.embedding_cache import cached_encode
from embedlab.evaluation.ranking_metrics import Qrels, ranking_metrics
from embedlab.hardware import CpuInfo, as_dict, cpu_info
from embedlab.index.faiss_store import FaissStore, default_nlist
from embedlab.index.quantized import memory_per_vector
from embedlab.index.registry import create_store
from embedlab.index.store import StoreHit

# Exact first (its hits are the truth), then the fast scans, so that a long run has its main rows early.
STORES = ("exact", "int8", "binary", "faiss-hnsw", "faiss-ivfpq")
K = 10


@dataclass
class Corpus:
    """Vectors to store and queries to search; BEIR query ids and qrels where nDCG can be scored."""

    name: str
    source: str
    ids: list[str]
    vectors: np.ndarray
    queries: np.ndarray
    query_ids: list[str] | None = None
    qrels: Qrels | None = None


@dataclass
class Measurement:
    """One store on one corpus; build covers the upsert and whatever the first search builds (index, codes)."""

    store: str
    vectors: int
    build_s: float
    vectors_per_s: float
    search_s: float
    queries_per_s: float
    recall_at_10: float
    p50_ms: float
    p99_ms: float
    bytes_per_vector: float | None
    ndcg_at_10: float | None
    options: dict


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", action=argparse.BooleanOptionalAction, default=True,
                        help="measure on SciFact (embedded by MiniLM unless cached)")
    parser.add_argument("--max-docs", type=int, default=None, help="SciFact documents to use (default: all 5,183)")
    parser.add_argument("--synthetic", type=int, default=1_000_000, help="vectors in the synthetic corpus (0: skip)")
    parser.add_argument("--synthetic-queries", type=int, default=1_000)
    parser.add_argument("--latency-queries", type=int, default=200,
                        help="queries searched one at a time for the p50/p99 latency")
    parser.add_argument("--milvus-synthetic", type=int, default=100_000, help="synthetic vectors Milvus stores")
    parser.add_argument("--dim", type=int, default=384, help="dimension of the synthetic vectors")
    parser.add_argument("--clusters", type=int, default=1_000, help="gaussian clusters in the synthetic corpus")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "runs" / "index-embeddings",
                        help="where the SciFact embeddings are cached")
    parser.add_argument("--stores", default=",".join(STORES),
                        help="comma-separated stores to measure besides exact, which every recall needs")
    parser.add_argument("--note", default="", help="what the report should say about this run (e.g. a shared machine)")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where index.json and index.md go")
    return parser


def scifact_corpus(max_docs: int | None, cache_dir: Path) -> Corpus | None:
    """SciFact test queries and (the first max_docs) documents, embedded once and then read from the cache."""
    if dataset_path("beir", "scifact") is None:
        print("SciFact is not under the data root (EMBEDLAB_DATA): skipped")
        return None
    dataset = load_beir("scifact", "test")
    ids, texts = dataset.doc_ids()[:max_docs], dataset.doc_texts()[:max_docs]
    encoder = Encoder.load("minilm", device="cpu")
    query_ids = list(dataset.queries)

    def embed(items: list[str], method: str) -> np.ndarray:
        # The same key as `embedlab eval retrieval` uses, so either can fill the cache for the other.
        return cached_encode(encoder, items, lambda batch: getattr(encoder, method)(batch, batch_size=32),
                             {"method": method}, directory=cache_dir)

    vectors = embed(texts, "encode_documents")
    queries = embed([dataset.queries[q] for q in query_ids], "encode_queries")
    subset = f"the first {len(ids):,} of {len(dataset.corpus):,} documents" if len(ids) < len(dataset.corpus) else (
        f"all {len(ids):,} documents")
    source = f"SciFact test: {len(query_ids)} queries, {subset}, all-MiniLM-L6-v2 (384 dims)"
    return Corpus("scifact", source, ids, vectors, queries, query_ids, dataset.qrels)


def synthetic_corpus(n: int, n_queries: int, dim: int, clusters: int, seed: int = 0) -> Corpus:
    """Unit vectors around gaussian cluster centres (noise as large as the centres), made in float32 blocks."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim), dtype=np.float32)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, dim), dtype=np.float32)
        for start in range(0, count, 100_000):
            rows = min(100_000, count - start)
            x = centers[rng.integers(clusters, size=rows)] + rng.standard_normal((rows, dim), dtype=np.float32)
            out[start : start + rows] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    vectors, queries = draw(n), draw(n_queries)
    source = f"{n:,} synthetic unit vectors ({dim} dims, {clusters:,} gaussian clusters), {n_queries:,} queries"
    return Corpus(f"synthetic-{n}", source, [str(i) for i in range(n)], vectors, queries)


def subset(corpus: Corpus, n: int) -> Corpus:
    source = f"The first {n:,} vectors of the synthetic corpus, same {len(corpus.queries):,} queries"
    return Corpus(f"{corpus.name}-first-{n}", source, corpus.ids[:n], corpus.vectors[:n], corpus.queries)


def store_options(kind: str, n: int) -> dict:
    """Default settings, except that IVF-PQ trains on what a small corpus has (fewer than FAISS's 39 per centroid)."""
    if kind != "faiss-ivfpq":
        return {}
    return {"points_per_centroid": max(1, min(39, n // max(default_nlist(n), 256)))}


def top_ids(corpus: Corpus, hits: list[list[StoreHit]]) -> list[list[StoreHit]]:
    """The K best hits per query, without a document whose id is the query's (BEIR's rule, as in the evaluation)."""
    if corpus.query_ids is None:
        return [per_query[:K] for per_query in hits]
    return [[h for h in per_query if h.id != qid][:K] for qid, per_query in zip(corpus.query_ids, hits)]


def latency_ms(store, queries: np.ndarray, depth: int) -> tuple[float, float]:
    """p50 and p99 milliseconds of one query searched alone, as a server answering one request would."""
    times = []
    for query in queries:
        start = time.perf_counter()
        store.search(query[None], depth)
        times.append(1000 * (time.perf_counter() - start))
    p50, p99 = np.percentile(times, [50, 99])
    return float(p50), float(p99)


def measure(
    kind: str, corpus: Corpus, truth: list[list[StoreHit]] | None, latency_queries: int
) -> tuple[Measurement, list[list[StoreHit]]]:
    n, dim = corpus.vectors.shape
    options = store_options(kind, n)
    depth = K + (corpus.query_ids is not None)
    gc.collect()
    start = time.perf_counter()
    store = create_store(kind, dim, **options)
    store.upsert(corpus.ids, corpus.vectors)
    store.search(corpus.queries[:1], depth)  # builds what the store builds lazily (FAISS index, codes)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    hits = top_ids(corpus, store.search(corpus.queries, depth))
    search_s = time.perf_counter() - start
    p50, p99 = latency_ms(store, corpus.queries[:latency_queries], depth)
    truth = truth or hits
    recall = float(np.mean([len({h.id for h in a} & {h.id for h in b}) / max(len(b), 1) for a, b in zip(hits, truth)]))
    ndcg = None
    if corpus.qrels is not None:
        run = {qid: {h.id: h.score for h in per_query} for qid, per_query in zip(corpus.query_ids, hits)}
        ndcg = ranking_metrics(corpus.qrels, run).mean["ndcg@10"]
    if isinstance(store, FaissStore):
        size = store.index_bytes() / n
    else:
        size = None if kind == "milvus" else memory_per_vector(kind, dim)
    del store
    gc.collect()  # frees the store's memory (and stops an embedded Milvus) before the next one is built
    measurement = Measurement(kind, n, build_s, n / build_s, search_s, len(corpus.queries) / search_s, recall, p50,
                              p99, size, ndcg, options)
    print(f"{corpus.name:>24} {kind:>12}: build {build_s:8.2f} s, {measurement.queries_per_s:10,.0f} queries/s, "
          f"recall@10 {recall:.3f}, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
          + (f", nDCG@10 {ndcg:.4f}" if ndcg is not None else ""), flush=True)
    return measurement, hits


def run_corpus(
    corpus: Corpus, kinds: tuple[str, ...], latency_queries: int, measurements: list[Measurement],
    measured: Callable[[], None],
) -> None:
    """Each store in turn, exact first: its hits are the truth the others' recall is measured against.

    Rows are appended to `measurements` as they come and `measured` is called after each, so a long run that is
    stopped still leaves a report of what it measured.
    """
    truth = None
    for kind in kinds:
        measurement, hits = measure(kind, corpus, truth, latency_queries)
        measurements.append(measurement)
        truth = truth or hits
        measured()


def earlier_runs(path: Path) -> dict:
    """index.json's runs by CPU class; a file from before classes existed becomes the run of its own CPU's class."""
    stored = load_store(path)
    if not stored["classes"] and path.is_file():
        old = json.loads(path.read_text())
        if "cpu" in old:
            stored["classes"][cpu_class(CpuInfo(**{k: v for k, v in old["cpu"].items() if k != "features"}))] = old
    return stored


def corpus_table(corpus: dict) -> list[str]:
    """One corpus's rows; latency reads n/a in runs from before it was measured."""
    stores = corpus["stores"]
    has_ndcg = any(m.get("ndcg_at_10") is not None for m in stores)
    lines = [f"### {corpus['source']}", "",
             "| store | build s | vectors/s | queries/s | recall@10 | p50 ms | p99 ms | bytes/vector |"
             + (" nDCG@10 |" * has_ndcg),
             "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" * has_ndcg)]
    for m in stores:
        size = "n/a" if m["bytes_per_vector"] is None else f"{m['bytes_per_vector']:,.0f}"
        p50, p99 = (f"{m[key]:,.2f}" if m.get(key) is not None else "n/a" for key in ("p50_ms", "p99_ms"))
        ndcg = f" {100 * m['ndcg_at_10']:.2f} |" if has_ndcg else ""
        lines.append(f"| {m['store']} | {m['build_s']:.2f} | {m['vectors_per_s']:,.0f} | {m['queries_per_s']:,.0f} | "
                     f"{m['recall_at_10']:.3f} | {p50} | {p99} | {size} |{ndcg}")
    return lines + [""]


def markdown(runs: dict) -> str:
    lines = [
        "# Vector search: approximate stores against exact",
        "",
        (
            "Recall@10 is the share of exact search's top 10 that a store returns in its own top 10 (1.000 for exact "
            "by definition); build time covers the upsert and the index or codes the first search builds; queries/s "
            "searches all queries in one call; p50/p99 ms search the first queries one at a time (one request each)."
        ),
        "",
    ]
    for key, run in sorted(runs["classes"].items()):
        lines += [f"## CPU class {key}", "", recorded_header(run["cpu"]), "",
                  f"Run {run['date']} with `{run['command']}`. {run.get('note', '')}".rstrip(), ""]
        for corpus in run["corpora"]:
            lines += corpus_table(corpus)
    lines += [
        (
            "Stores: `faiss-hnsw` (M 32, efConstruction 80, 200 before 2026-12-03, efSearch 128), `faiss-ivfpq` (about "
            "4·sqrt(n) lists, "
            "dim/8 sub-quantizers of 8 bits, nprobe 16, top 4·k rescored exactly; on small corpora trained on fewer "
            "than FAISS's 39 points per centroid, see `options` in index.json), `int8` (int8 x int8 products of "
            "the codes with the query rounded to int8, the top 8·k of those ranked again by float32 code scores) and "
            "`binary` (FAISS's Hamming scan of the sign bits), both then rescoring their top 4·k with the float32 "
            "vectors; runs before 2026-12-03 scanned both codes with numpy instead), `milvus` (milvus-lite, embedded, "
            "COSINE, its default index; its build time includes starting the embedded server, about a second)."
        ),
        "",
        (
            "nDCG@10 (SciFact qrels, the query's own id dropped as in `embedlab eval retrieval`) compares with the "
            "evaluation's 64.51 for exact search only when all 5,183 documents are stored."
        ),
        "",
        (
            "Bytes/vector is what a search holds per vector: the FAISS index as serialized (HNSW keeps full vectors "
            "plus its links), or the int8/binary codes. Every store except Milvus also keeps the float32 vectors "
            "(1,536 bytes at 384 dims) for rebuilding and rescoring: in memory for FAISS, memory-mapped from disk for "
            "int8/binary after loading, where rescoring reads only the candidates. Milvus keeps its own files."
        ),
        "",
    ]
    return "\n".join(lines)


def corpora(args: argparse.Namespace) -> Iterator[tuple[Corpus, tuple[str, ...]]]:
    """Each corpus with the stores measured on it, made only when its turn comes (1M vectors take 1.5 GB)."""
    kinds = ("exact", *(kind for kind in STORES if kind != "exact" and kind in args.stores.split(",")))
    if args.scifact:
        scifact = scifact_corpus(args.max_docs, args.cache_dir)
        if scifact is not None:
            yield scifact, (*kinds, "milvus")
    if args.synthetic:
        synthetic = synthetic_corpus(args.synthetic, args.synthetic_queries, args.dim, args.clusters)
        yield synthetic, kinds
        if args.milvus_synthetic:
            yield subset(synthetic, min(args.milvus_synthetic, args.synthetic)), ("exact", "milvus")


def main() -> None:
    parser = build_parser()
    args, defaults = parser.parse_args(), vars(parser.parse_args([]))
    info = cpu_info()
    command = "python benchmarks/index_search.py" + "".join(
        f" --{name.replace('_', '-')} {value}" if not isinstance(value, bool) else f" --{'' if value else 'no-'}{name}"
        for name, value in vars(args).items() if name not in ("out", "cache_dir", "note") and value != defaults[name]
    )
    runs = earlier_runs(args.out / "index.json")
    sections: list[tuple[Corpus, list[Measurement]]] = []
    when = measured_at()

    def measured() -> None:
        runs["classes"][cpu_class(info)] = {
            "date": when,
            "command": command,
            "cpu": as_dict(info),
            "k": K,
            "note": args.note,
            "corpora": [{"name": c.name, "source": c.source, "stores": [asdict(m) for m in ms]} for c, ms in sections],
        }
        write_report(args.out, "index", runs, markdown(runs))

    for corpus, kinds in corpora(args):
        sections.append((corpus, []))
        run_corpus(corpus, kinds, args.latency_queries, sections[-1][1], measured)
    print(f"wrote {args.out / 'index.json'} and {args.out / 'index.md'}")


if __name__ == "__main__":
    main()
