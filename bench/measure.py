"""Timing helpers and the figure record: medians of a few runs, peak traced memory, server time.

Server time is the time spent inside the ASGI application (`ServerClock` wraps it), so the
in-process client's own work (building the request, reading the response) is not counted.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None  # the value should be ≤ target
    floor: float | None = None  # the same rows read (SELECT + JSON) or written (INSERT) plainly
    ratio: float | None = None  # value / floor
    ratio_target: float | None = None

    @classmethod
    def against(cls, name: str, value: float, unit: str, target: float | None, floor: float | None,
                ratio_target: float | None = None) -> Figure:  # fmt: skip
        ratio = value / floor if floor else None
        return cls(name, round(value, 3), unit, target, None if floor is None else round(floor, 3),
                   None if ratio is None else round(ratio, 2), ratio_target)  # fmt: skip

    @property
    def misses(self) -> bool:
        over = self.target is not None and self.value > self.target
        ratio_over = self.ratio_target is not None and self.ratio is not None and self.ratio > self.ratio_target
        return over or ratio_over

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        target = "" if self.target is None else f"≤ {self.target:g}"
        floor = "" if self.floor is None else f"{self.floor:g}"
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}×"
        ratio_target = "" if self.ratio_target is None else f"≤ {self.ratio_target:g}×"
        mark = "MISS" if self.misses else "ok"
        return (f"{self.name:<32} {self.value:>10g} {self.unit:<3} {target:>9} "
                f"floor {floor:>9} {ratio:>7} {ratio_target:>6}  {mark}")  # fmt: skip


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """The median wall time of `runs` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def median_of(fn: Callable[[], float], runs: int) -> float:
    """The median of a figure that `fn` measures itself (e.g. the server time of a request)."""
    return statistics.median(fn() for _ in range(runs))


def peak_mib(fn: Callable[[], T]) -> tuple[T, float]:
    """Run once under tracemalloc: the result and the peak of traced Python memory, in MiB."""
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak / (1 << 20)


class ServerClock:
    """An ASGI wrapper that adds up the time spent inside the application."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.elapsed = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.elapsed += time.perf_counter() - t0

    def reset(self) -> None:
        self.elapsed = 0.0

    @property
    def ms(self) -> float:
        return self.elapsed * 1000
