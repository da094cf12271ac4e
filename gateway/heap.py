"""The heap of a serving gateway: its garbage collector, and C's allocator.

The garbage collector. What a start builds (modules, settings, the
knowledge base, the decision layer's examples) lives as long as the process, yet every full
collection walked all of it again: under a burst of webhooks a full collection took up to 105 ms
(ten of them, 0.8 s in all, in one benchmark run), and every request and turn in flight waited
for it. Frozen once built, those objects are left out of later collections (about 4 ms each
since). A frozen object dropped later is still freed by its reference count; only one caught in
a reference cycle stays until the process restarts (parts of a knowledge base replaced by a
`knowledge rebuild`, a rare operator action). The switch is the process's, like the collector:
`serve` turns it on; a test process starts many gateways, and what one of them froze would
never be collected.

C's allocator (glibc): each thread that allocates gets an arena of its own, up to eight per
core, and memory freed in one is kept for that one. A serving gateway's threads (the event loop,
the embedding model's OpenMP team, the executor's) left 251-255 MiB resident after the benchmark's
burst on the bundled model with 16 workers; capped at MALLOC_ARENAS, 242 MiB, turns a second and
CPU a turn the same. An operator's own MALLOC_ARENA_MAX is left as it is."""

from __future__ import annotations

import ctypes
import gc
import logging
import os

log = logging.getLogger(__name__)

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter

_enabled = False


def configure_for_serving() -> None:
    """This process serves: `freeze_what_start_built` freezes from now on, and C's allocator
    keeps few arenas (called before the process starts threads)."""
    global _enabled
    _enabled = True
    cap_malloc_arenas()


def cap_malloc_arenas() -> bool:
    """At most MALLOC_ARENAS arenas unless MALLOC_ARENA_MAX is set; False where the C library
    is not glibc (mallopt missing, or refusing the parameter)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library already loaded
    except (OSError, TypeError):  # no such handle (Windows)
        return False
    if mallopt is None or mallopt(_M_ARENA_MAX, MALLOC_ARENAS) != 1:
        log.debug("C's allocator keeps its own arena count (not glibc)")
        return False
    return True


def freeze_what_start_built() -> None:
    """Collect the start's garbage, then move every object left to the permanent generation.
    Called as the app starts and again once the knowledge base has opened in the background."""
    if _enabled:
        gc.collect()
        gc.freeze()
