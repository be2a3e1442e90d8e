"""Throttling of failed sign-ins, per account and per address.

Threat: online password guessing. Five failures on one account within the window lock that
account for a short time only (default 5 minutes) — long enough to make guessing slow, short
enough that an attacker cannot keep a worker out of their caseload for long. Addresses get a
higher threshold, because an office NAT shares one address among many honest users.
Keys are hashed: usernames and addresses do not sit in this table in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.models import LoginThrottle

WINDOW = dt.timedelta(minutes=15)
ADDRESS_FACTOR = 4


def _key(kind: str, value: str) -> str:
    return kind + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:60]


def keys_for(username: str, address: str) -> tuple[str, str]:
    return _key("u", username), _key("a", address)


def retry_after(session: Session, keys: tuple[str, ...], now: dt.datetime | None = None) -> int:
    """Seconds until sign-in may be tried again, or 0 when it may be tried now."""
    now = now or utcnow()
    # One query for the account's and the address's keys (every sign-in asks; most find no row).
    locks = session.scalars(select(LoginThrottle.locked_until).where(LoginThrottle.key.in_(keys)))
    return math.ceil(max([0.0, *((until - now).total_seconds() for until in locks if until is not None)]))


def register_failure(
    session: Session, key: str, limit: int, lock_seconds: int, now: dt.datetime | None = None
) -> None:
    now = now or utcnow()
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=now)
        session.add(row)
    if now - row.window_start > WINDOW:
        row.failures, row.window_start, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + dt.timedelta(seconds=lock_seconds)
        row.failures = 0
        row.window_start = now


def clear(session: Session, key: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))
