"""The push delivery queue: a table, so pending pushes survive a restart.

- `enqueue` adds one row per subscription of each recipient; a pending row of the same topic absorbs
  the new one (its `generation` goes up), like the push service's Topic collapses messages.
- `flush` claims due rows (a claim expires, so a crashed sender's rows are picked up again; several
  processes may flush at once without sending a row twice), sends them *outside* any database
  transaction, then records the outcome:
  2xx → sent (or sent again later when a newer push collapsed in meanwhile);
  404/410 → the subscription is gone: delete it;
  no answer, 429, 5xx → retry with exponential backoff (honouring Retry-After), up to MAX_ATTEMPTS;
  any other status → failed.
Log lines carry kinds, counts and status codes only.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import case, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from server.db import new_id
from server.models import PushDelivery, PushSubscription
from server.push import payload
from server.push.delivery import NO_ANSWER, Message, PushSender, Result, Target
from server.push.origins import is_allowed

log = logging.getLogger("yorisoi.push")

MAX_ATTEMPTS = 8
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=6)
CLAIM = dt.timedelta(minutes=2)
KEEP_DONE = dt.timedelta(days=30)
GONE = frozenset({404, 410})
BLOCKED = -1  # last_status when the endpoint is no longer on an allowed origin


def backoff(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    """30 s, 1 min, 2 min, … capped at 6 h; a longer Retry-After wins (also capped)."""
    delay: dt.timedelta = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    if retry_after is not None:
        delay = max(delay, min(dt.timedelta(seconds=retry_after), BACKOFF_CAP))
    return delay


def enqueue(
    session: Session, user_ids: Iterable[uuid.UUID], kind: str, not_before: dt.datetime, *, now: dt.datetime
) -> int:
    ids = list(set(user_ids))
    if not ids:
        return 0
    subs = list(session.scalars(select(PushSubscription.id).where(PushSubscription.user_id.in_(ids))))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for sub_id in subs:
        ins = insert(PushDelivery).values(
            id=new_id(),
            subscription_id=sub_id,
            kind=kind,
            topic=kind,
            urgency=payload.URGENCY[kind],
            state="pending",
            generation=0,
            created_at=now,
            not_before=not_before,
            attempts=0,
        )
        session.execute(
            ins.on_conflict_do_update(
                index_elements=["subscription_id", "topic"],
                # A literal predicate: with a bound parameter PostgreSQL cannot match the partial
                # index once psycopg switches to a prepared (generic) plan.
                index_where=text("state = 'pending'"),
                set_={
                    "generation": PushDelivery.generation + 1,
                    "not_before": case(
                        (ins.excluded.not_before < PushDelivery.not_before, ins.excluded.not_before),
                        else_=PushDelivery.not_before,
                    ),
                },
            )
        )
    return len(subs)


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    generation: int
    attempts: int
    subscription_id: uuid.UUID
    target: Target
    kind: str
    topic: str
    urgency: str
    body: bytes | None


@dataclass
class FlushReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    removed: int = 0
    skipped: int = 0
    statuses: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.sent + self.retried + self.failed + self.removed + self.skipped


def _claim(session: Session, now: dt.datetime, limit: int) -> list[Job]:
    free = or_(PushDelivery.claimed_until.is_(None), PushDelivery.claimed_until < now)
    # PostgreSQL: lock the rows we pick and skip those another flush is picking right now (the usual
    # queue idiom; without SKIP LOCKED two flushes could lock the same rows in different orders and
    # deadlock). SQLite has one writer at a time and ignores FOR UPDATE.
    due = list(
        session.scalars(
            select(PushDelivery.id)
            .where(PushDelivery.state == "pending", PushDelivery.not_before <= now, free)
            .order_by(PushDelivery.not_before, PushDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not due:
        return []
    claimed = list(
        session.scalars(
            update(PushDelivery)
            .where(PushDelivery.id.in_(due), PushDelivery.state == "pending", free)
            .values(claimed_until=now + CLAIM)
            .returning(PushDelivery.id),
            execution_options={"synchronize_session": False},
        )
    )
    if not claimed:
        return []
    rows = session.execute(
        select(PushDelivery, PushSubscription)
        .join(PushSubscription, PushSubscription.id == PushDelivery.subscription_id)
        .where(PushDelivery.id.in_(claimed))
    ).all()
    jobs = []
    for d, sub in rows:
        body = payload.content(session, sub.user_id, d.kind)
        jobs.append(
            Job(
                id=d.id,
                generation=d.generation,
                attempts=d.attempts,
                subscription_id=sub.id,
                target=Target(sub.endpoint, sub.p256dh, sub.auth),
                kind=d.kind,
                topic=d.topic,
                urgency=d.urgency,
                body=payload.encode(body) if body is not None else None,
            )
        )
    return jobs


def _finish(session: Session, job: Job, now: dt.datetime, state: str, status: int | None, **extra: object) -> None:
    """Record the outcome, unless a newer push collapsed into this row meanwhile: then it stays
    pending and goes out again with the newer count."""
    values: dict[str, object] = {"claimed_until": None, "attempts": PushDelivery.attempts + 1}
    if status is not None:
        values["last_status"] = status
    done = session.execute(
        update(PushDelivery)
        .where(PushDelivery.id == job.id, PushDelivery.generation == job.generation)
        .values(state=state, **values, **extra),
        execution_options={"synchronize_session": False},
    )
    if getattr(done, "rowcount", 0) == 0:
        session.execute(
            update(PushDelivery).where(PushDelivery.id == job.id).values(claimed_until=None),
            execution_options={"synchronize_session": False},
        )


def _record(session: Session, job: Job, result: Result | None, now: dt.datetime, report: FlushReport) -> None:
    if result is None:  # nothing left to say
        _finish(session, job, now, "skipped", None)
        report.skipped += 1
        return
    report.statuses.append(result.status)
    if result.status == BLOCKED:
        _finish(session, job, now, "failed", BLOCKED)
        report.failed += 1
    elif result.ok:
        _finish(session, job, now, "sent", result.status, sent_at=now)
        session.execute(
            update(PushSubscription).where(PushSubscription.id == job.subscription_id).values(last_success_at=now),
            execution_options={"synchronize_session": False},
        )
        report.sent += 1
    elif result.status in GONE:
        session.execute(delete(PushDelivery).where(PushDelivery.subscription_id == job.subscription_id))
        session.execute(delete(PushSubscription).where(PushSubscription.id == job.subscription_id))
        report.removed += 1
    elif result.status in (NO_ANSWER, 429) or result.status >= 500:
        attempts = job.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            _finish(session, job, now, "failed", result.status)
            report.failed += 1
        else:
            _finish(session, job, now, "pending", result.status, not_before=now + backoff(attempts, result.retry_after))
            report.retried += 1
    else:
        _finish(session, job, now, "failed", result.status)
        report.failed += 1


def flush(
    factory: sessionmaker[Session],
    sender: PushSender,
    allowed_origins: Iterable[str],
    now: Callable[[], dt.datetime],
    limit: int = 50,
) -> FlushReport:
    """Send what is due. Safe to run from several processes at once."""
    report = FlushReport()
    origins = tuple(allowed_origins)
    with factory() as session, session.begin():
        jobs = _claim(session, now(), limit)
    if not jobs:
        return report
    outcomes: list[tuple[Job, Result | None]] = []
    for job in jobs:
        if job.body is None:
            outcomes.append((job, None))
        elif not is_allowed(job.target.endpoint, origins):
            log.warning("push not sent: the subscription's endpoint is not on an allowed origin")
            outcomes.append((job, Result(BLOCKED)))
        else:
            ttl = payload.TTL_SECONDS[job.kind]
            try:
                result = sender.send(job.target, Message(job.body, ttl, job.urgency, job.topic))
            except Exception as exc:  # a bug in a sender must not leave the row claimed with no attempt counted
                log.error("push sender failed (%s)", type(exc).__name__)
                result = Result(NO_ANSWER)
            outcomes.append((job, result))
    with factory() as session, session.begin():
        t = now()
        for job, outcome in outcomes:
            _record(session, job, outcome, t, report)
    log.info(
        "push queue: sent=%d retried=%d failed=%d removed=%d skipped=%d",
        report.sent, report.retried, report.failed, report.removed, report.skipped,
    )
    return report


def prune(session: Session, now: dt.datetime) -> None:
    """Forget finished deliveries after a month."""
    session.execute(
        delete(PushDelivery).where(PushDelivery.state != "pending", PushDelivery.created_at < now - KEEP_DONE)
    )
