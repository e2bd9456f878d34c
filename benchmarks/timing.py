"""One timed encode call, shared by encode_throughput.py and the peer worker it runs in a second environment.

Standard library only, so a virtual environment without embedlab can import it too.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any


def timed(encode: Callable[[list[str]], Any], texts: list[str], min_seconds: float = 0.5) -> tuple[float, float, Any]:
    """Wall and process CPU seconds of one encode call (averaged over calls for fast ones), and its output."""
    gc.collect()
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        output = encode(texts)
        calls += 1
        if time.perf_counter() - start >= min_seconds:
            break
    return (time.perf_counter() - start) / calls, (time.process_time() - cpu_start) / calls, output
