"""Continuous batching: inference threads share one queue and merge queued requests into token-budgeted batches.

An idle worker starts on a request the moment it arrives (no batching window, so a lone client waits for nothing);
requests that arrive while a batch runs queue up and go together in the next one. A burst of small requests then
costs about one batched encode call instead of one call each. Each worker thread runs one batch at a time, so with
W workers at most W encode calls run at once: one per core (W workers x 1 torch thread) keeps every core busy with
no OpenMP barrier between them, which a descheduled thread would stall on a shared machine (docs/serving.md).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

# Texts and their options key -> one row per text, in anything sliced by row ranges: (n, d) vectors for a dense
# model, a CSR matrix for a sparse one, a list of per-token arrays for a multi-vector one.
Encode = Callable[[list[str], Hashable], Any]
OnBatch = Callable[[int, int, int], None]  # requests, texts and tokens of each encode call


class QueueFull(Exception):
    """The worker already has its maximum of requests waiting."""


class WorkerStopped(Exception):
    """The worker is shutting down and takes no new requests."""


def take_batch(sizes: Sequence[int], budget: int) -> int:
    """How many leading queued jobs (of `sizes` tokens each) one batch takes: all that fit in `budget`, in order.

    At least one, so a job larger than the budget still runs (alone); stopping at the first misfit keeps FIFO order,
    so a big request is never overtaken indefinitely by small ones.
    """
    total = taken = 0
    for size in sizes:
        if taken and total + size > budget:
            break
        total += size
        taken += 1
    return taken


@dataclass
class Job:
    """One request's work: texts to embed under an options key, or a call to run alone on the model thread."""

    future: Future
    texts: list[str] = field(default_factory=list)
    tokens: int = 0
    key: Hashable = None
    call: Callable[[], Any] | None = None


class InferenceWorker:
    """A queue and the `workers` threads that serve it: embedding jobs are merged, calls (search, rerank) run alone.

    Whenever a thread is free, it at once takes as many queued jobs as fit `max_batch_tokens`: one job if only
    one waits, everything that queued during the last batch otherwise. Each caller gets a Future that resolves to
    its own rows, in its own order. `encode` must be safe to call from `workers` threads at once.
    """

    def __init__(
        self, encode: Encode, max_queue: int, max_batch_tokens: int, on_batch: OnBatch | None = None, workers: int = 1,
    ) -> None:
        self.encode = encode
        self.max_queue = max_queue
        self.max_batch_tokens = max_batch_tokens
        self.on_batch = on_batch
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, name=f"embedlab-inference-{i}", daemon=True) for i in range(workers)
        ]

    # ---- the callers' side ---------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Take no new jobs, finish those queued, and end the threads (each waited for at most `timeout`)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads) and not self._stopping

    @property
    def depth(self) -> int:
        """Jobs waiting (not yet taken by the worker)."""
        return len(self._queue)

    def submit_texts(self, texts: Sequence[str], tokens: Sequence[int], key: Hashable = None) -> Future:
        """Queue texts (with their token counts) to embed; the Future gives their rows ((n, d) vectors when dense)."""
        return self._submit(Job(Future(), list(texts), int(sum(tokens)), key))

    def submit_call(self, call: Callable[[], Any]) -> Future:
        """Queue a model call that cannot be merged (a search, a rerank); the Future gives its result."""
        return self._submit(Job(Future(), call=call))

    def _submit(self, job: Job) -> Future:
        with self._cond:
            if self._stopping:
                raise WorkerStopped("the server is shutting down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"{len(self._queue)} requests are already waiting for the model")
            self._queue.append(job)
            self._cond.notify()  # only idle workers wait on the condition: wake one
        return job.future

    # ---- the worker's side ---------------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            # A caller that timed out has cancelled its Future: its work is dropped, not done.
            live = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if live and live[0].call is not None:
                _settle(live[0].future, live[0].call)
            elif live:
                self._embed(live)

    def _next_batch(self) -> list[Job] | None:
        """Wait for work, then take the jobs of one batch at once: waiting for company would only delay a lone
        request, and under load the jobs that queued while the last batch ran are already there to merge."""
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            head = self._queue[0]
            if head.call is not None:
                batch = [self._queue.popleft()]
            else:
                same = []
                for job in self._queue:
                    if job.call is not None or job.key != head.key:
                        break
                    same.append(job)
                taken = take_batch([job.tokens for job in same], self.max_batch_tokens)
                batch = [self._queue.popleft() for _ in range(taken)]
        return batch

    def _embed(self, jobs: list[Job]) -> None:
        texts = [text for job in jobs for text in job.texts]
        try:
            vectors = self.encode(texts, jobs[0].key)
        except Exception as err:  # noqa: BLE001 - any failure goes to the waiting requests, never kills the worker
            if len(jobs) == 1:
                jobs[0].future.set_exception(err)
                return
            # One request's texts failed the merged call: retry each alone so only that request fails.
            for job in jobs:
                _settle(job.future, lambda job=job: self.encode(job.texts, job.key))
            return
        if self.on_batch is not None:
            self.on_batch(len(jobs), len(texts), sum(job.tokens for job in jobs))
        start = 0
        for job in jobs:
            job.future.set_result(vectors[start : start + len(job.texts)])
            start += len(job.texts)


def _settle(future: Future, call: Callable[[], Any]) -> None:
    try:
        future.set_result(call())
    except Exception as err:  # noqa: BLE001 - handed to the caller, who turns it into an error answer
        future.set_exception(err)
