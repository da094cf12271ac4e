"""A serving gateway caps C's allocator at a few arenas (gateway/heap.py): its threads would
otherwise keep one each, up to eight per core, and the memory freed in them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway.heap import MALLOC_ARENAS, cap_malloc_arenas

# Eight threads allocating at once, then glibc's own count of its arenas (malloc_stats on stderr).
THREADS_ALLOCATING = """
import ctypes, sys, threading
from gateway.heap import cap_malloc_arenas
if sys.argv[1] == "capped":
    assert cap_malloc_arenas()
start = threading.Barrier(8)
def allocate():
    start.wait()
    blocks = [bytearray(4096) for _ in range(2000)]
    start.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    run = subprocess.run([sys.executable, "-c", THREADS_ALLOCATING, mode], env=env,
                         capture_output=True, text=True, check=True)
    return sum(line.startswith("Arena ") for line in run.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_the_cap_keeps_threads_to_few_arenas() -> None:
    assert arenas("free") > MALLOC_ARENAS
    assert arenas("capped") <= MALLOC_ARENAS


def test_an_operators_own_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not cap_malloc_arenas()
