"""Prometheus metrics for the server: counters, histograms and live gauges, rendered as exposition text.

Written by hand (a few dozen lines) instead of depending on prometheus_client for four metric families.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 65536)


def _escape(value: str) -> str:
    # The exposition format's three escapes inside a quoted label value.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], le: str | None = None) -> str:
    pairs = list(zip(names, values)) + ([("le", le)] if le is not None else [])
    return "{" + ",".join(f'{name}="{_escape(str(value))}"' for name, value in pairs) + "}" if pairs else ""


class Counter:
    """A monotonically growing count per label combination."""

    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self.values[labels] = self.values.get(labels, 0.0) + amount

    def samples(self) -> list[str]:
        with self._lock:
            return [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in sorted(self.values.items())]


class Histogram:
    """Observations counted into cumulative `le` buckets, with their sum and count, per label combination."""

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float], labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self.buckets = tuple(sorted(buckets))
        self.values: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}  # per-bucket counts, [sum]
        self._lock = threading.Lock()

    def observe(self, value: float, *labels: str) -> None:
        with self._lock:
            counts, total = self.values.setdefault(labels, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            total[0] += value

    def samples(self) -> list[str]:
        lines = []
        with self._lock:
            for key, (counts, total) in sorted(self.values.items()):
                running = 0
                for bound, count in zip((*self.buckets, "+Inf"), counts):
                    running += count
                    le = bound if isinstance(bound, str) else f"{bound:g}"
                    lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
                lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {total[0]:g}")
                lines.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return lines


class Gauge:
    """A value read when the metrics are scraped (the queue depth), so it is never stale."""

    kind = "gauge"

    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help, read

    def samples(self) -> list[str]:
        return [f"{self.name} {self.read():g}"]


class Metrics:
    """The server's metric families; `render` gives the Prometheus text format (version 0.0.4)."""

    def __init__(self) -> None:
        self.requests = Counter("embedlab_requests_total", "HTTP requests answered, by endpoint and status.",
                                ("endpoint", "status"))
        self.errors = Counter("embedlab_errors_total", "Error answers, by status and error code.", ("status", "code"))
        self.latency = Histogram("embedlab_request_duration_seconds", "Time from request to answer, by endpoint.",
                                 LATENCY_BUCKETS, ("endpoint",))
        self.batch_requests = Histogram(
            "embedlab_batch_requests", "Requests merged into one encode call.", SIZE_BUCKETS
        )
        self.batch_texts = Histogram("embedlab_batch_texts", "Texts in one encode call.", SIZE_BUCKETS)
        self.batch_tokens = Histogram("embedlab_batch_tokens", "Tokens in one encode call.", TOKEN_BUCKETS)
        self.tokens = Counter("embedlab_tokens_total", "Input tokens embedded (after truncation).")
        self.truncated = Counter("embedlab_truncated_texts_total", "Texts cut to the model's max tokens.")
        self.gauges: list[Gauge] = []

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.gauges.append(Gauge(name, help, read))

    def render(self) -> str:
        families = [self.requests, self.errors, self.latency, self.batch_requests, self.batch_texts,
                    self.batch_tokens, self.tokens, self.truncated, *self.gauges]
        lines = []
        for family in families:
            lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.kind}", *family.samples()]
        return "\n".join(lines) + "\n"
