"""Admission: how many requests do their work at once, and what the others get.

Threat: overload — a morning burst of phones, or a flood of sign-in attempts — turning into
errors, unbounded memory, or a connection pool that times out with a 500 and a traceback. Each
request runs its database transaction in a thread (server/views/base.py); without a bound,
Starlette starts up to 40 of them while the pool holds fewer connections, and 64-MiB argon2
verifications pile up. So:

- At most `max_concurrent_requests` requests run their transaction at once. The connection pool
  is sized above that (server/app.py), so a request waits here, in the event loop, holding no
  thread and no connection — never in the pool.
- Sign-ins have a lane of their own: at most `max_concurrent_sign_ins` run at once, each checking
  one password (argon2id: tens of milliseconds of one core and 19 MiB;
  server/security/passwords.py). They take none of the other requests' places, so a queue of
  sign-ins never holds up syncs, and a sign-in that has its place never waits behind syncs.
  A place is held for the whole sign-in (its queries too, and the wait for a hashing thread:
  one per core), so there are more places (4) than cores: with 2, sign-ins waited in this
  queue past its limit in the morning burst on a loaded 2-core machine (docs/performance.md).
  The pool is sized for both lanes.
- A request that has waited `request_queue_seconds` without its turn is answered 503
  `server_busy` with `Retry-After`: the phone keeps its records and syncs again later (the field
  app's sync reports the failure and retries on its timer; sync/PROTOCOL.md).

The app shell's files and the API description (`without_database` in server/views/base.py) take
no place: served from memory with no transaction, they are never refused here, so a service
worker's precache is not failed by a burst.

Waiters are served in arrival order. The gates are plain asyncio (one event loop per process):
nothing here blocks a thread.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

RETRY_AFTER_SECONDS = 5


class Busy(Exception):
    """No turn within the wait: answer 503 `server_busy`."""


class Gate:
    """At most `size` holders at once; the others wait in arrival order."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a gate needs at least one place")
        self.size = size
        self.held = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def enter(self, wait: float) -> bool:
        """Take a place, waiting at most `wait` seconds. False when no place came in time."""
        if self.held < self.size and not self._waiters:
            self.held += 1
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            async with asyncio.timeout(wait):
                await turn
            return True
        except TimeoutError:
            # The place may have been handed over in the same instant the wait ran out: keep it.
            return turn.done() and not turn.cancelled()
        except asyncio.CancelledError:
            # Cancelled (the server stopping) just as the place was handed over: pass it on.
            if turn.done() and not turn.cancelled():
                self.leave()
            raise
        finally:
            if turn in self._waiters:
                self._waiters.remove(turn)

    def leave(self) -> None:
        """Give the place back: to the next waiter if there is one (the count stays), else free it."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.held -= 1


@dataclass
class Admission:
    requests: Gate
    sign_ins: Gate
    wait_seconds: float

    @classmethod
    def of(cls, max_requests: int, max_sign_ins: int, wait_seconds: float) -> Admission:
        return cls(Gate(max_requests), Gate(max_sign_ins), wait_seconds)

    @asynccontextmanager
    async def turn(self, *, signs_in: bool = False) -> AsyncIterator[None]:
        """Hold a place in the request's lane for the block; raise `Busy` when none came in time."""
        gate = self.sign_ins if signs_in else self.requests
        if not await gate.enter(self.wait_seconds):
            raise Busy
        try:
            yield
        finally:
            gate.leave()
