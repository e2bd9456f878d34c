"""Heap trimming after large encodes: it runs where glibc offers it, and only for calls large enough."""

from __future__ import annotations

import platform

import pytest

import embedlab.models.encoder as encoder_module
from embedlab.models.heap import TRIM_MIN_TEXTS, release_free_heap


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_trimming_runs_on_glibc() -> None:
    assert release_free_heap() is True


def test_encode_trims_only_after_large_calls(minilm, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(encoder_module, "release_free_heap", lambda: calls.append(1) or True)
    minilm.encode(["a short text"] * (TRIM_MIN_TEXTS - 1), show_progress=False)
    assert calls == []
    minilm.encode(["a short text"] * TRIM_MIN_TEXTS, show_progress=False)
    assert calls == [1]
