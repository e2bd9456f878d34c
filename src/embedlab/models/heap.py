"""Give the C heap's free pages back to the operating system after a large encode (glibc's malloc_trim).

Each batch allocates activations of a new shape; glibc keeps the freed blocks in its heap rather than returning
them, so a process that encodes the same texts again and again drifts upward from round to round. Trimming after
each large call keeps RSS flat at a small fixed cost (docs/inference.md, "Memory over repeated encodes"); elsewhere
(macOS, musl) there is no such call and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

TRIM_MIN_TEXTS = 256  # below this an encode is short enough that the trim's fixed cost would show


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: no malloc_trim
        return None


def release_free_heap() -> bool:
    """Return free heap memory to the OS; True where the C library can (glibc), False where it cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
