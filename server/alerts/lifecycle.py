"""The alert lifecycle: raise, change level, reopen, escalate, resolve.

open → acknowledged (a note and the next planned date) → resolved, automatically, once the rule no
longer holds. One live alert per case and rule (and per worker for 端末が未同期), guaranteed by partial
unique indexes; evaluations are also serialized by a row lock, so the CLI and a server process
evaluating at the same moment neither duplicate alerts nor double-send pushes. The decisions are
written set-based (reconcile.py): new alerts with multi-row INSERTs, changes with one UPDATE per kind.

- A level that rises (S2: 30 → 60 → 90 days) reopens an acknowledged alert: acknowledging a caution
  must not silence the call for a meeting.
- An acknowledged alert whose next planned date has passed while the rule still holds reopens.
- Escalation: coordinators first; the municipality's supervisors too once it stays unacknowledged
  for `escalate_days`; S2 at the meeting level, S6, S7 and R go to the supervisors at once.
- Sync-aware: S1–S5 of a case held by a worker whose phone has not synced are held back (not raised;
  live ones stay as they are), and 端末が未同期 is raised about that worker instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, exists, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import bulk
from server.alerts import case_facts, reconcile, rules
from server.alerts.audience import DEVICE_RULE, URGENT_RULE
from server.alerts.notify import AlertEvent, notify
from server.alerts.schedule import PushSchedule
from server.alerts.sqlfuncs import thresholds_by_team, thresholds_cte, today_in_japan
from server.alerts.thresholds import Thresholds
from server.db import new_id
from server.models import Alert, Case, JobLease, User
from server.models.sync_stamp import only_held, take_seq, touch
from server.services import audit
from server.services.derived import effective_contacts
from server.vocab import AlertState

log = logging.getLogger("yorisoi.alerts")

SEVERITY = {"caution": 1, "review": 1, "warning": 2, "meeting": 3, "urgent": 4}
EVALUATION_LOCK = "alerts.evaluate"
DEFAULT_THRESHOLDS = Thresholds()
INSERT_CHUNK = 1000  # alerts per INSERT statement (SQLite allows 32,766 bound values in one)


def escalates_at_once(rule: str, level: str) -> bool:
    return rule in (*reconcile.AT_ONCE_RULES, URGENT_RULE) or (rule == "S2" and level == "meeting")


def event(kind: str, alert: Alert) -> AlertEvent:
    return AlertEvent(
        kind=kind,
        alert_id=alert.id,
        rule=alert.rule,
        level=alert.level,
        team_id=alert.team_id,
        case_id=alert.case_id,
        subject_user_id=alert.subject_user_id,
        escalated=alert.escalated_at is not None,
    )


@dataclass
class Report:
    events: list[AlertEvent] = field(default_factory=list)
    held_back: int = 0
    pushes_queued: int = 0

    def of(self, kind: str) -> list[AlertEvent]:
        return [e for e in self.events if e.kind == kind]


def ensure_lease_row(session: Session, name: str, now: dt.datetime) -> None:
    """The lease rows are made on demand (a fresh or emptied database has none)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(JobLease).values(name=name, holder="", lease_until=now - dt.timedelta(days=1))
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))


def insert_alert(session: Session, **values: object) -> Alert | None:
    """Insert a live alert, or None when a concurrent transaction already holds the live one."""
    alert = Alert(**values)
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None
    return alert


def insert_alerts(
    session: Session, rows: Iterable[dict[str, Any]], opened_at: dt.datetime, *, number_now: bool = False
) -> list[AlertEvent]:
    """Open many live alerts at once, set-based instead of a savepoint per alert: `INSERT … ON
    CONFLICT DO NOTHING RETURNING id`, of array parameters on PostgreSQL (bulk.unnest_insert), of
    multi-row VALUES on SQLite. Each row gives `rule`, `level`, `team_id`, `case_id` or
    `subject_user_id`, and `escalated` (escalated when opened). A row whose case (or worker)
    already has a live alert of its rule — raised meanwhile by a concurrent transaction — is skipped
    by the partial unique indexes (the database waits for that transaction rather than failing), so
    there is still never more than one. Returns a `raised` event for each alert actually inserted.

    `number_now` (the evaluation, whose only synced writes after this are these rows): when every
    row this transaction changed so far is one it holds, the alerts are inserted already numbered
    for the phones' pull — the transaction's change number is taken first (the counter then stays
    locked until COMMIT, as at commit; no row lock is taken after it but the inserts' own) — instead
    of writing every new row a second time at commit (`UPDATE … SET sync_seq`, 42,000 rows and their
    indexes at 40,000 cases)."""
    table: Table = Alert.__table__  # type: ignore[assignment]
    columns = ("id", "case_id", "subject_user_id", "team_id", "rule", "level", "escalated_at")
    params = [
        {"id": new_id(), "case_id": r.get("case_id"), "subject_user_id": r.get("subject_user_id"),
         "team_id": r["team_id"], "rule": r["rule"], "level": r["level"],
         "escalated_at": opened_at if r.get("escalated") else None}
        for r in rows
    ]  # fmt: skip
    if not params:
        return []
    if number_now:
        session.flush()  # ORM changes are noted at flush: only_held must see them all
    numbered = number_now and not session.in_nested_transaction() and only_held(session)
    shared: dict[str, Any] = {"opened_at": opened_at}
    if numbered:
        shared["sync_seq"] = take_seq(session)
    inserted: list[uuid.UUID] = []
    if session.get_bind().dialect.name == "postgresql":
        # One statement of array parameters: a multi-row VALUES of the 44,000 alerts of a first
        # evaluation at 40,000 cases cost psycopg seconds of parsing its text.
        stmt = bulk.unnest_insert(table, columns, list(shared)).on_conflict_do_nothing().returning(table.c.id)
        inserted.extend(session.scalars(stmt, bulk.unnest_params(columns, params, shared)))
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing().returning(table.c.id)
        for i in range(0, len(params), INSERT_CHUNK):
            inserted.extend(session.scalars(stmt, [p | shared for p in params[i : i + INSERT_CHUNK]]))
    by_id = {p["id"]: p for p in params}
    events = [
        AlertEvent(kind="raised", alert_id=p["id"], rule=p["rule"], level=p["level"], team_id=p["team_id"],
                   case_id=p["case_id"], subject_user_id=p["subject_user_id"], escalated=p["escalated_at"] is not None)
        for p in (by_id[alert_id] for alert_id in inserted)
    ]  # fmt: skip
    if not numbered:
        touch(session, Alert, inserted, held=True)  # numbered for the phones' pull at commit
    return events


def _cleared_urgent(session: Session, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Urgent alerts whose case has since been closed, or whose person or family has been reached
    after the alert was opened."""
    if not ids:
        return set()
    eff = effective_contacts()
    reached_after = (
        exists()
        .where(eff.c.case_id == Alert.case_id, eff.c.reached != "none", eff.c.occurred_at > Alert.opened_at)
    )
    closed = exists().where(Case.id == Alert.case_id, Case.status == "closed")
    return set(session.scalars(select(Alert.id).where(Alert.id.in_(ids), or_(closed, reached_after))))


def evaluate(session: Session, now: dt.datetime, schedule: PushSchedule | None = None) -> Report:
    """Run every rule, bring the alerts in line, escalate, and queue the pushes. One transaction
    (the caller's). `now` is injectable so tests control time."""
    report = Report()
    ensure_lease_row(session, EVALUATION_LOCK, now)
    session.execute(select(JobLease.name).where(JobLease.name == EVALUATION_LOCK).with_for_update())
    if session.get_bind().dialect.name == "postgresql":
        # The rules run as one large statement, and PostgreSQL's JIT compiler spent longer compiling
        # it than running it (6 s of 11 s at 40,000 cases). Off for this transaction only.
        session.execute(text("SET LOCAL jit = off"))

    by_team = thresholds_by_team(session)
    th = thresholds_cte(by_team, now)
    if th is None:
        return report
    today = today_in_japan(now)
    # The rules read per-case facts of the contacts and milestones kept in derived tables: bring
    # them up to date with the records numbered since the last evaluation (their cases recomputed).
    case_facts.refresh(session)

    # Workers whose phone has not synced: S1–S5 of their cases are held back. Their cases are few:
    # the rules run again over those alone to find which candidates are held.
    lagging = rules.lagging_workers(session, th)
    held_cases: set[uuid.UUID] = set()
    device_subjects: set[uuid.UUID] = set()
    if lagging:
        theirs = rules.case_candidates(session, th, rules.cases_of(session, lagging), kept=True)
        pairs = rules.assignees(session, (c.case_id for c in theirs if c.rule in rules.FIELD_RULES), lagging)
        held_cases = {case_id for case_id, _ in pairs}
        device_subjects = {user_id for _, user_id in pairs}
        report.held_back = sum(1 for c in theirs if c.rule in rules.FIELD_RULES and c.case_id in held_cases)

    def held(rule: str, case_id: uuid.UUID) -> bool:
        return rule in rules.FIELD_RULES and case_id in held_cases

    changes = reconcile.Changes()
    new_rows: list[dict[str, Any]] = []
    for candidate, alert in reconcile.differences(session, rules.candidates(th, kept=True), th, today):
        if alert is None:
            if candidate is not None and not held(candidate.rule, candidate.case_id):
                new_rows.append(
                    {"case_id": candidate.case_id, "team_id": candidate.team_id, "rule": candidate.rule,
                     "level": candidate.level, "escalated": escalates_at_once(candidate.rule, candidate.level)}
                )  # fmt: skip
            continue
        if candidate is None:
            changes.resolved(alert, now)
            continue
        if held(candidate.rule, candidate.case_id):
            continue  # held back while a phone has not synced: no level change, reopening or escalation
        if candidate.level != alert.level:
            rose = SEVERITY.get(candidate.level, 0) > SEVERITY.get(alert.level, 0)
            changes.leveled(alert, candidate.level)
            if rose and alert.state == AlertState.ACKNOWLEDGED:
                changes.reopened(alert, now, due=False)
        _reopen_or_escalate(alert, now, today, by_team, changes)

    # Urgent alerts and alerts about a worker's phone: few, read and decided here.
    others = reconcile.read_live(session, or_(Alert.rule == URGENT_RULE, Alert.case_id.is_(None)))
    urgent_cleared = _cleared_urgent(session, [a.id for a in others if a.rule == URGENT_RULE])
    seen_subjects: set[uuid.UUID] = set()
    for alert in others:
        if alert.rule == URGENT_RULE:
            # An urgent alert resolves only once someone has acknowledged it.
            if alert.id in urgent_cleared:
                if alert.state == AlertState.ACKNOWLEDGED:
                    changes.resolved(alert, now, only_acknowledged=True)
                else:
                    _reopen_or_escalate(alert, now, None, by_team, changes)
                continue
        elif alert.subject_user_id is not None:
            seen_subjects.add(alert.subject_user_id)
            if alert.subject_user_id not in device_subjects:
                changes.resolved(alert, now)
                continue
        else:
            continue
        _reopen_or_escalate(alert, now, today, by_team, changes)
    report.events.extend(reconcile.apply(session, changes, now, today))

    new_subjects = device_subjects - seen_subjects
    if new_subjects:
        rows = session.execute(select(User.id, User.team_id).where(User.id.in_(new_subjects)))
        teams = {user_id: team_id for user_id, team_id in rows}  # noqa: C416 - rows are Row objects
        new_rows.extend(
            {"subject_user_id": user_id, "team_id": teams[user_id], "rule": DEVICE_RULE, "level": "caution"}
            for user_id in sorted(new_subjects)
        )  # fmt: skip
    report.events.extend(insert_alerts(session, new_rows, now, number_now=True))

    session.flush()
    report.pushes_queued = notify(session, report.events, now, schedule)
    if report.events:
        counts = {k: len(report.of(k)) for k in ("raised", "resolved", "escalated", "reopened")}
        detail = " ".join(f"{k}={v}" for k, v in counts.items()) + f" held_back={report.held_back}"
        audit.record(session, None, "alert.evaluate", entity="alert", detail=detail)
        log.info("alerts evaluated: %s", detail)
    return report


def _reopen_or_escalate(
    alert: reconcile.LiveAlert,
    now: dt.datetime,
    today: dt.date | None,
    by_team: dict[uuid.UUID, Thresholds],
    changes: reconcile.Changes,
) -> None:
    """For an alert whose rule still holds: an acknowledged next date that has passed reopens it
    (`today` None: not checked); an open alert escalates once overdue for its team, or at once."""
    if (
        today is not None
        and alert.state == AlertState.ACKNOWLEDGED
        and alert.ack_next_date is not None
        and alert.ack_next_date < today
    ):
        changes.reopened(alert, now, due=True)
    if alert.escalated_at is not None or alert.state != AlertState.OPEN:
        return
    th = by_team.get(alert.team_id, DEFAULT_THRESHOLDS)
    if alert.opened_at <= now - dt.timedelta(days=th.escalate_days) or escalates_at_once(alert.rule, alert.level):
        changes.escalated(alert, now)


def live_alert(session: Session, case_id: uuid.UUID, rule: str) -> Alert | None:
    return session.scalar(
        select(Alert)
        .where(and_(Alert.case_id == case_id, Alert.rule == rule, Alert.state != AlertState.RESOLVED))
        .with_for_update()
    )
