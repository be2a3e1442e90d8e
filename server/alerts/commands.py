"""What the `yorisoi check-stalled`, `push-vapid-key` and `push-send` commands do (server/cli.py
only parses arguments). Output names rules, levels and ids, never a person."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.engine import Engine

from server.alerts.lifecycle import Report, evaluate
from server.alerts.notify import AlertEvent
from server.alerts.runner import make_sender
from server.alerts.schedule import PushSchedule
from server.db import make_session_factory, utcnow
from server.push import queue
from server.push.vapid import load_or_create
from server.settings import Settings

Print = Callable[[str], None]
ORDER = ("raised", "reopened", "level", "escalated", "resolved")


def describe(ev: AlertEvent) -> str:
    about = f"case {ev.case_id}" if ev.case_id is not None else f"user {ev.subject_user_id}"
    extra = " (to the supervisor)" if ev.escalated and ev.kind in ("raised", "reopened") else ""
    return f"{ev.kind:<9} {ev.rule:<15} {ev.level:<8} {about}{extra}"


def summary(report: Report) -> str:
    counts = ", ".join(f"{k} {len(report.of(k))}" for k in ORDER)
    return (
        f"summary: {counts}; held back {report.held_back} (phones not synced); "
        f"pushes queued {report.pushes_queued}"
    )


def check_stalled(
    engine: Engine, settings: Settings, out: Print, *, now: dt.datetime | None = None, dry_run: bool = False,
    send: bool = True,
) -> Report:
    schedule = PushSchedule.from_settings(settings.quiet_hours, settings.push_digest_at)
    when = now or utcnow()
    factory = make_session_factory(engine)
    with factory() as session, session.begin() as tx:
        report = evaluate(session, when, schedule)
        if dry_run:
            tx.rollback()
    for kind in ORDER:
        for ev in report.of(kind):
            out(describe(ev))
    out(summary(report) + (" (dry run: nothing saved)" if dry_run else ""))
    if send and not dry_run:
        clock: Callable[[], dt.datetime] = (lambda: when) if now is not None else utcnow
        flushed = queue.flush(factory, make_sender(settings), settings.push_allowed_origins, clock)
        if flushed.total:
            out(_flushed(flushed))
    return report


def _flushed(r: queue.FlushReport) -> str:
    return (
        f"pushes: sent {r.sent}, retry later {r.retried}, failed {r.failed}, "
        f"subscriptions removed {r.removed}, nothing to say {r.skipped}"
    )


def vapid_key(settings: Settings, out: Print) -> None:
    out(load_or_create(settings.data_dir).application_server_key)


def push_send(engine: Engine, settings: Settings, out: Print) -> None:
    factory = make_session_factory(engine)
    out(_flushed(queue.flush(factory, make_sender(settings), settings.push_allowed_origins, utcnow)))
