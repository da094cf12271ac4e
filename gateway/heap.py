"""The garbage collector of a serving gateway. What a start builds (modules, settings, the
knowledge base, the decision layer's examples) lives as long as the process, yet every full
collection walked all of it again: under a burst of webhooks a full collection took up to 105 ms
(ten of them, 0.8 s in all, in one benchmark run), and every request and turn in flight waited
for it. Frozen once built, those objects are left out of later collections (about 4 ms each
since). A frozen object dropped later is still freed by its reference count; only one caught in
a reference cycle stays until the process restarts (parts of a knowledge base replaced by a
`knowledge rebuild`, a rare operator action). The switch is the process's, like the collector:
`serve` turns it on; a test process starts many gateways, and what one of them froze would
never be collected."""

from __future__ import annotations

import gc

_enabled = False


def freeze_after_start() -> None:
    """This process serves: `freeze_what_start_built` freezes from now on."""
    global _enabled
    _enabled = True


def freeze_what_start_built() -> None:
    """Collect the start's garbage, then move every object left to the permanent generation.
    Called as the app starts and again once the knowledge base has opened in the background."""
    if _enabled:
        gc.collect()
        gc.freeze()
