"""Small SQL helpers the stall rules share, portable between SQLite and PostgreSQL.

Every rule counts days the way people do: Japan calendar days, not 24-hour periods. A visit at
23:30 on April 1 and one at 00:10 on April 2 are a day apart. `jst_day` turns a stored UTC time into
its Japan calendar day inside the database, so the comparisons stay set-based.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import CTE, Date, Integer, Uuid, literal, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from server.alerts.thresholds import Thresholds, for_team
from server.db import UTCDateTime
from server.i18n.dates import TOKYO
from server.models import Team


class jst_day(FunctionElement[dt.date]):
    """The Japan calendar day of a UTC timestamp column."""

    type = Date()
    name = "jst_day"
    inherit_cache = True


@compiles(jst_day, "sqlite")
def _jst_day_sqlite(element: jst_day, compiler: SQLCompiler, **kw: Any) -> str:
    # Japan has had no daylight saving time since 1951: a fixed +9 hours is exact.
    return f"date({compiler.process(element.clauses, **kw)}, '+9 hours')"


@compiles(jst_day, "postgresql")
def _jst_day_postgresql(element: jst_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'Asia/Tokyo') AS DATE)"


def today_in_japan(now: dt.datetime) -> dt.date:
    return now.astimezone(TOKYO).date()


def thresholds_by_team(session: Session) -> dict[uuid.UUID, Thresholds]:
    """Teams are few: their thresholds are read once per evaluation (cases are never looped over)."""
    rows = session.execute(select(Team.id, Team.stall_thresholds))
    return {team_id: for_team(overrides) for team_id, overrides in rows}


def thresholds_cte(by_team: dict[uuid.UUID, Thresholds], now: dt.datetime) -> CTE | None:
    """One row per team with each threshold turned into a cut-off day or time, so that every rule is
    a plain comparison: "day <= s2_caution_by" means "at least 30 days ago"."""
    if not by_team:
        return None
    today = today_in_japan(now)

    def day(days: int) -> Any:
        return literal(today - dt.timedelta(days=days), Date())

    rows = [
        select(
            literal(team_id, Uuid()).label("team_id"),
            literal(today, Date()).label("today"),
            day(th.s1_grace_days).label("s1_due_by"),
            day(th.s2_caution_days).label("s2_caution_by"),
            day(th.s2_warning_days).label("s2_warning_by"),
            day(th.s2_meeting_days).label("s2_meeting_by"),
            literal(th.s3_attempts, Integer()).label("s3_attempts"),
            day(th.s4_days).label("s4_by"),
            day(th.s5_days + 1).label("s5_by"),  # "for more than 180 days"
            day(th.s7_review_days).label("s7_by"),
            literal(now - dt.timedelta(days=th.unsynced_days), UTCDateTime()).label("unsynced_before"),
            literal(now - dt.timedelta(days=th.escalate_days), UTCDateTime()).label("escalate_before"),
        )
        for team_id, th in by_team.items()
    ]
    if len(rows) == 1:
        return rows[0].cte("th")
    return union_all(*rows).cte("th")
