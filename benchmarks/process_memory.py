"""This process's memory as Linux reports it in /proc/self/status, for the benchmarks that watch it.

Standard library only, so the workers that run in other virtual environments can import it too.
"""

from __future__ import annotations

from pathlib import Path

STATUS_FIELDS = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "VmHWM": "peak"}


def memory_mib() -> dict[str, float]:
    """Resident memory now (total, anonymous, file-backed) and the peak total so far (VmHWM, what ru_maxrss
    reports), in MiB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_FIELDS:
            found[STATUS_FIELDS[key]] = int(value.split()[0]) / 1024
    return found
