"""Python's cyclic garbage collector, tuned for a process of Yorisoi: the served app (its lifespan)
and each `yorisoi` command (issue #9, docs/performance.md "Session 6" and "Session 9").

A page of a pull holds thousands of container objects (rows, changes, their `data`) until its
answer is encoded, and a first stall evaluation at 40,000 cases holds its candidates and 42,000
new alerts: with the default thresholds (700, 10, 10) they set off a young collection every 700
allocations, and their promotion set off full collections, each traversing every object the
process holds — ≈ 150,000 after the imports (SQLAlchemy, Starlette, the templates), 85–155 ms a
collection here. The objects alive when the tuning starts are frozen (kept out of every
collection: modules and the app's own objects live as long as the process), and a young
collection waits for 10,000 allocations.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

YOUNG_THRESHOLD = 10_000


@contextlib.contextmanager
def tuned() -> Iterator[None]:
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:  # an app stopped within a process that goes on (the tests) hands the objects back
        gc.set_threshold(*before)
        gc.unfreeze()
