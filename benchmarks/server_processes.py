"""The servers benchmarks/server_load.py compares: how each starts, where it answers, and the CPU it uses.

Each server runs in its own process on loopback: `embedlab serve` with some options, the usual hand-written
FastAPI + sentence-transformers server (`serve_peer`, run by server_load.py itself), and Infinity (infinity-emb,
from its own venv, `make infinity-venv`). CPU time is read from /proc, per process and per thread, so a report
can say how many cores each server got and where embedlab's went (event loop or inference workers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

STARTUP_S = 300.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """One server to load: its name in the report, the command that starts it and the route that embeds."""

    name: str
    command: list[str]
    port: int
    path: str = "/v1/embeddings"
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None
    log: IO[str] | None = None  # stderr: a file, since an unread pipe would fill and block it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_embedlab(self) -> bool:
        return self.name.startswith("embedlab")

    def start(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", **(self.env or {})}
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - open for the process's whole life
        self.process = subprocess.Popen(self.command, env=env, stdout=subprocess.DEVNULL, stderr=self.log, text=True)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"{self.name} ({self.url}) exited: {self.log.read()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"{self.name} ({self.url}) did not come up within {STARTUP_S:.0f}s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (all its threads)."""
        return _stat_seconds(Path(f"/proc/{self.process.pid}/stat"))

    def thread_cpu_seconds(self) -> dict[str, float]:
        """CPU seconds of the main thread (uvicorn's event loop: HTTP, JSON, token counts) and of all the others
        (embedlab's inference workers, which tokenize and run the model, plus any thread-pool thread; Python 3.11
        does not give threads OS names, so /proc cannot tell those apart)."""
        roles: dict[str, float] = {}
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                seconds = _stat_seconds(task / "stat")
            except OSError:  # the thread ended between listing and reading
                continue
            role = "event loop" if task.name == str(self.process.pid) else "workers and other threads"
            roles[role] = roles.get(role, 0.0) + seconds
        return roles


def _stat_seconds(stat: Path) -> float:
    # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15, counted after its ')'.
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedlab_server(name: str, python: str, options: list[str]) -> Server:
    port = free_port()
    command = [python, "-m", "embedlab", "serve", "--log-level", "warning", "--no-playground", "--port", str(port),
               *options]
    return Server(name, command, port)


def peer_server(python: str, script: str, threads: int) -> Server:
    port = free_port()
    return Server("peer", [python, script, "--serve-peer", str(port), "--threads", str(threads)], port)


def infinity_server(executable: Path, model: str, batch_size: int, threads: int | None = None) -> Server:
    """Infinity's own CLI on the same model directory: torch engine on the CPU, its defaults otherwise, but no
    vector disk cache (on by default; it would answer repeated texts from SQLite instead of the model).
    `threads` sets its torch threads through OMP_NUM_THREADS (it has no option of its own); None: torch's default."""
    port = free_port()
    env = {"OMP_NUM_THREADS": str(threads)} if threads else None
    name = f"infinity, {threads} thread{'s' if threads > 1 else ''}" if threads else "infinity"
    command = [str(executable), "v2", "--model-id", model, "--served-model-name", "minilm", "--device", "cpu",
               "--engine", "torch", "--batch-size", str(batch_size), "--no-vector-disk-cache", "--port", str(port),
               "--host", "127.0.0.1"]
    return Server(name, command, port, path="/embeddings", env=env)
