"""The cyclic garbage collector's settings for the long-running processes.

With CPython's defaults (thresholds 700, 10, 10) a server under a write flood made
about 2,000 young and 16 full collections in 10 s, and each full one walked every live
object (the contexts, the caches, the subscription index): 80-110 ms with every thread
stopped, which the slowest writes and notifications waited out (docs/benchmarks.md).
So, once a process has started, what it loaded is frozen (never walked again; it lives
as long as the process anyway) and young collections wait for more allocations.
Reference counting still frees everything that is not in a cycle at once.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG: Final = 50_000  # allocations (net of frees) between young collections; default 700
MIDDLE: Final = 20  # young collections between middle ones; default 10
OLD: Final = 10  # middle collections between full ones (CPython also waits for 25% growth)


def settle() -> None:
    """Call once start-up is done: collect, freeze the survivors, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
