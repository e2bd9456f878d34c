"""The inference worker: packing under a token budget, each caller's own rows, cancellation, isolation, drain."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.server.micro_batching import InferenceWorker, QueueFull, WorkerStopped, take_batch
from tests.fakes import HashingEncoder, HashingSparseEncoder
from tests.server.conftest import WAIT_S, GatedEncoder, wait_until


@given(st.lists(st.integers(min_value=0, max_value=500), max_size=30), st.integers(min_value=1, max_value=1000))
def test_take_batch_takes_the_longest_prefix_within_budget(sizes, budget):
    taken = take_batch(sizes, budget)
    if not sizes:
        assert taken == 0
        return
    assert 1 <= taken <= len(sizes)
    assert taken == 1 or sum(sizes[:taken]) <= budget  # a job over the budget goes alone
    assert taken == len(sizes) or sum(sizes[: taken + 1]) > budget  # and no job that fits is left behind


def make_worker(encoder, **options) -> tuple[InferenceWorker, list[tuple[int, int, int]]]:
    batches: list[tuple[int, int, int]] = []
    settings_ = {"max_queue": 100, "max_batch_tokens": 1000, **options}
    worker = InferenceWorker(
        lambda texts, key: encoder.encode(texts), on_batch=lambda *b: batches.append(b), **settings_
    )
    worker.start()
    return worker, batches


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="abc d", min_size=1, max_size=12), min_size=1, max_size=5),
                min_size=1, max_size=8),
       st.integers(min_value=1, max_value=30))
def test_every_caller_gets_the_rows_of_its_own_texts(requests, budget):
    encoder = HashingEncoder()
    gated = GatedEncoder(encoder)
    worker, batches = make_worker(gated, max_batch_tokens=budget)
    try:
        futures = [worker.submit_texts(texts, [len(t) for t in texts]) for texts in requests]
        gated.gate.set()
        for texts, future in zip(requests, futures):
            np.testing.assert_allclose(future.result(WAIT_S), encoder.encode(texts), atol=1e-6)
    finally:
        worker.stop(WAIT_S)
    assert sum(b[0] for b in batches) == len(requests)
    # Every batch but a lone oversized job stays within the budget.
    assert all(tokens <= budget or n == 1 for n, _, tokens in batches)


def test_requests_queued_while_the_model_is_busy_are_merged_into_one_call():
    gated = GatedEncoder(HashingEncoder())
    worker, batches = make_worker(gated)
    try:
        first = worker.submit_texts(["first"], [1])
        wait_until(gated.entered.is_set, "the first call to reach the model")
        rest = [worker.submit_texts([f"text {i}", "more"], [2, 1]) for i in range(5)]
        gated.gate.set()
        for future in [first, *rest]:
            future.result(WAIT_S)
    finally:
        worker.stop(WAIT_S)
    assert [b[0] for b in batches] == [1, 5]
    assert gated.calls[1] == [text for i in range(5) for text in (f"text {i}", "more")]


def test_an_idle_worker_starts_a_lone_request_at_once_and_merges_only_what_queued_during_a_batch():
    gated = GatedEncoder(HashingEncoder())
    worker, batches = make_worker(gated, max_batch_tokens=1000)
    try:
        # Nothing else is coming and the budget is far from full: the worker must not wait for company. The test
        # submits nothing more until the first call has reached the model, so a batching window would only delay it.
        first = worker.submit_texts(["alone"], [1])
        wait_until(gated.entered.is_set, "the lone request to reach the model")
        assert gated.calls == [["alone"]] and worker.depth == 0
        during = [worker.submit_texts([f"queued {i}"], [1]) for i in range(3)]
        assert worker.depth == 3  # held while the model is busy ...
        gated.gate.set()
        for future in [first, *during]:
            future.result(WAIT_S)
        # ... then taken together; once idle again, the next lone request goes alone too.
        worker.submit_texts(["later"], [1]).result(WAIT_S)
    finally:
        worker.stop(WAIT_S)
    assert [b[0] for b in batches] == [1, 3, 1]
    assert gated.calls == [["alone"], ["queued 0", "queued 1", "queued 2"], ["later"]]


def test_two_workers_run_two_batches_at_once_and_merge_what_queued_meanwhile():
    started, gate = threading.Semaphore(0), threading.Event()
    calls: list[list[str]] = []

    def encode(texts, key):
        calls.append(list(texts))
        started.release()
        gate.wait(WAIT_S)
        return np.zeros((len(texts), 2), dtype=np.float32)

    worker = InferenceWorker(encode, max_queue=10, max_batch_tokens=100, workers=2)
    worker.start()
    try:
        # While one worker is busy, the other takes the next request at once: two batches run together.
        first = []
        for i in range(2):
            first.append(worker.submit_texts([f"lone {i}"], [1]))
            assert started.acquire(timeout=WAIT_S)
        queued = [worker.submit_texts([f"queued {i}"], [1]) for i in range(3)]
        assert worker.depth == 3 and worker.alive
        gate.set()
        for future in [*first, *queued]:
            assert future.result(WAIT_S).shape == (1, 2)
    finally:
        worker.stop(WAIT_S)
    assert sorted(map(tuple, calls[:2])) == [("lone 0",), ("lone 1",)]
    # Whichever worker is free first takes everything that queued while both were busy.
    assert calls[2:] == [["queued 0", "queued 1", "queued 2"]]
    assert not worker.alive


@pytest.mark.parametrize("encoder, threads", [(HashingEncoder(), 3), (HashingSparseEncoder(), 1)])
def test_the_service_runs_the_configured_workers_but_one_for_a_sparse_model(encoder, threads):
    from embedlab.server import ServerConfig
    from embedlab.server.service import Service

    service = Service(ServerConfig(workers=3), encoder)
    service.start()
    try:
        assert len(service.worker._threads) == threads and service.alive
    finally:
        service.stop()
    assert not service.alive


def test_token_counts_never_wait_on_the_event_loop():
    from embedlab.server.tokens import TokenCounter

    counter = TokenCounter(HashingEncoder())
    assert counter.count_now(["two words"]) == [2]
    with counter._lock:  # another thread is tokenizing: the caller is told to use a thread instead of waiting
        assert counter.count_now(["two words"]) is None


def test_jobs_with_other_options_are_not_merged():
    seen: list[tuple[int, object]] = []
    entered, gate = threading.Event(), threading.Event()

    def encode(texts, key):
        entered.set()
        gate.wait(WAIT_S)
        seen.append((len(texts), key))
        return np.zeros((len(texts), 2), dtype=np.float32)

    worker = InferenceWorker(encode, max_queue=10, max_batch_tokens=100)
    worker.start()
    try:
        busy = worker.submit_texts(["busy"], [1], "busy")
        wait_until(entered.is_set, "the first call to reach the model")
        futures = [worker.submit_texts(["a"], [1], key) for key in ("query", "query", None, "query")]
        gate.set()
        for future in [busy, *futures]:
            future.result(WAIT_S)
    finally:
        worker.stop(WAIT_S)
    # Only neighbours in the queue with the same options merge, so FIFO order is kept.
    assert seen == [(1, "busy"), (2, "query"), (1, None), (1, "query")]


def test_a_cancelled_job_is_dropped_unrun():
    gated = GatedEncoder(HashingEncoder())
    worker, _ = make_worker(gated)
    try:
        first = worker.submit_texts(["busy"], [1])
        wait_until(gated.entered.is_set, "the first call to reach the model")
        doomed = worker.submit_texts(["never encoded"], [2])
        assert doomed.cancel()
        gated.gate.set()
        first.result(WAIT_S)
        worker.submit_texts(["after"], [1]).result(WAIT_S)
    finally:
        worker.stop(WAIT_S)
    assert ["never encoded"] not in gated.calls


def test_a_failing_request_does_not_fail_those_merged_with_it():
    gate = threading.Event()

    def encode(texts, key):
        gate.wait(WAIT_S)
        if "poison" in texts:
            raise ValueError("cannot embed poison")
        return np.ones((len(texts), 2), dtype=np.float32)

    worker = InferenceWorker(encode, max_queue=10, max_batch_tokens=100)
    worker.start()
    try:
        futures = [worker.submit_texts(texts, [1] * len(texts)) for texts in (["ok"], ["poison"], ["fine", "too"])]
        gate.set()
        assert futures[0].result(WAIT_S).shape == (1, 2)
        with pytest.raises(ValueError, match="poison"):
            futures[1].result(WAIT_S)
        assert futures[2].result(WAIT_S).shape == (2, 2)
    finally:
        worker.stop(WAIT_S)


def test_a_full_queue_refuses_and_a_stopped_worker_refuses():
    gated = GatedEncoder(HashingEncoder())
    worker, _ = make_worker(gated, max_queue=2)
    first = worker.submit_texts(["busy"], [1])
    wait_until(gated.entered.is_set, "the first call to reach the model")
    queued = [worker.submit_texts(["a"], [1]), worker.submit_call(lambda: "called")]
    with pytest.raises(QueueFull):
        worker.submit_texts(["one too many"], [1])
    gated.gate.set()
    worker.stop(WAIT_S)  # drains what was queued before it ends
    assert first.result(0).shape == (1, 16)
    assert queued[0].result(0).shape == (1, 16) and queued[1].result(0) == "called"
    with pytest.raises(WorkerStopped):
        worker.submit_texts(["late"], [1])
