"""Progress away from a terminal: plain lines at every tenth and every half minute, the last one saying done."""

from __future__ import annotations

import io
import math

from hypothesis import given
from hypothesis import strategies as st

from embedlab.progress import LOG_EVERY_S, LOG_STEPS, ProgressLog, clock_time, progress_bar, speed


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_lines_with_counts_rate_and_time_left():
    clock, stream = FakeClock(), io.StringIO()
    log = ProgressLog(1000, "encoding", stream, clock=clock)
    clock.now += 10
    log.advance(100)
    clock.now += 30
    log.advance(400)
    clock.now += 40
    log.advance(500)
    assert stream.getvalue().splitlines() == [
        "encoding: 100/1,000 (10%), 10.0/s, 0:10 elapsed, 1:30 left",
        "encoding: 500/1,000 (50%), 12.5/s, 0:40 elapsed, 0:40 left",
        "encoding: 1,000/1,000 (100%), 12.5/s, 1:20 elapsed, done",
    ]


def test_a_slow_job_still_speaks_every_half_minute():
    clock, stream = FakeClock(), io.StringIO()
    log = ProgressLog(10_000, "mining", stream, clock=clock)
    for _ in range(6):  # 60 items in a minute and a half: never a tenth, but a line every 30 s
        clock.now += LOG_EVERY_S / 2
        log.advance(10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1] == "mining: 60/10,000 (1%), 1.5 s each, 1:30 elapsed, 4:08:30 left"


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=60))
def test_lines_are_few_and_the_last_one_says_done(steps):
    clock, stream = FakeClock(), io.StringIO()
    log = ProgressLog(sum(steps), "indexing", stream, clock=clock)
    for n in steps:
        clock.now += 1
        log.advance(n)
    lines = stream.getvalue().splitlines()
    assert 1 <= len(lines) <= LOG_STEPS
    assert lines[-1].startswith(f"indexing: {sum(steps):,}/{sum(steps):,} (100%)") and lines[-1].endswith("done")


def test_a_pipe_gets_lines_a_terminal_the_bar_and_off_is_silent():
    pipe, terminal, off = io.StringIO(), Terminal(), io.StringIO()
    for stream, enabled in ((pipe, True), (terminal, True), (off, False)):
        with progress_bar(10, "encoding", enabled=enabled, stream=stream) as advance:
            advance(10)
    assert pipe.getvalue().startswith("encoding: 10/10 (100%), ") and pipe.getvalue().endswith(", done\n")
    assert "encoding" in terminal.getvalue() and "elapsed" not in terminal.getvalue()
    assert off.getvalue() == ""


def test_speed_reads_as_items_per_second_or_seconds_per_item():
    assert [speed(r) for r in (312.46, 1.0, 0.04, 0.0, math.inf)] == ["312.5/s", "1.0/s", "25.0 s each", None, None]


def test_clock_time():
    assert [clock_time(s) for s in (0, 59.6, 61, 3600, 7322)] == ["0:00", "1:00", "1:01", "1:00:00", "2:02:02"]


def test_a_bar_inside_a_bar_stays_quiet_on_a_terminal_but_both_log():
    terminal, pipe = Terminal(), io.StringIO()
    with progress_bar(2, "mining", enabled=True, stream=terminal) as outer:
        with progress_bar(5, "encoding", enabled=True, stream=terminal) as inner:
            inner(5)
        outer(2)
    with progress_bar(1, "afterwards", enabled=True, stream=terminal) as again:
        again(1)
    assert "mining" in terminal.getvalue() and "afterwards" in terminal.getvalue()
    assert "encoding" not in terminal.getvalue()
    with progress_bar(2, "mining", enabled=True, stream=pipe) as outer:
        with progress_bar(5, "encoding", enabled=True, stream=pipe) as inner:
            inner(5)
        outer(2)
    assert [line.split(":")[0] for line in pipe.getvalue().splitlines()] == ["encoding", "mining"]
