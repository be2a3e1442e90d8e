"""The sign-in throttle's bookkeeping (server/security/throttle.py): the wait is the longer of the
account's and the address's locks, a lock that has run out counts for nothing, and a successful
sign-in forgets the account's failures only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import LoginThrottle
from server.security import throttle


def test_wait_is_the_longer_live_lock_and_clear_forgets_the_account_only(
    db_factory: sessionmaker[Session],
) -> None:
    now = utcnow()
    ukey, akey = throttle.keys_for("kato", "192.0.2.7")
    with db_factory() as s, s.begin():
        assert throttle.retry_after(s, (ukey, akey), now) == 0  # no rows at all
        s.add(LoginThrottle(key=ukey, failures=0, window_start=now, locked_until=now + dt.timedelta(seconds=30)))
        s.add(LoginThrottle(key=akey, failures=0, window_start=now, locked_until=now + dt.timedelta(seconds=90)))
    with db_factory() as s, s.begin():
        assert throttle.retry_after(s, (ukey, akey), now) == 90
        assert throttle.retry_after(s, (ukey,), now) == 30
        assert throttle.retry_after(s, (ukey, akey), now + dt.timedelta(seconds=91)) == 0  # both ran out
    with db_factory() as s, s.begin():
        throttle.register_failure(s, ukey, limit=5, lock_seconds=60, now=now)
    with db_factory() as s, s.begin():
        throttle.clear(s, ukey)
    with db_factory() as s:
        assert s.scalars(select(LoginThrottle.key)).all() == [akey]
