"""The derived tables kept from a watermark (services/kept.py) are built outside the requests: after
`yorisoi migrate`, or after one pass of the alert runner, on a database with records, every kept
table is complete (its watermark is the counter, its rows the computed ones), and a dashboard request
reads the summary without writing to it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.alerts import case_facts
from server.alerts.runner import AlertRunner
from server.cli import main
from server.models import SyncCounter
from server.services import kept, report_summary
from server.settings import Settings
from tests.alert_support import FakeSender
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory, at

EVERY_KEPT = (*case_facts.KEPT, report_summary.SUMMARY)
DERIVED = ("report_contact_month", "report_team_month", "derived_watermark")


@pytest.fixture
def records(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    office = OfficeFactory(db_factory)
    w = factory.user("w1", team="北部班")
    factory.user("s1", role="supervisor", team="北部班")
    for i in range(3):
        case = factory.case(team="北部班", workers=(w,), family_name=f"件{i}", identified_on=dt.date(2025, 4, 1))
        first = factory.contact(case, w, "NO_ANSWER", occurred_at=at(2025, 5, 1 + i))
        factory.contact(case, w, "MET_PERSON", occurred_at=at(2025, 6, 1 + i))
        factory.contact(case, w, "MET_FAMILY_ONLY", occurred_at=at(2025, 7, 1), amends_id=first.id)
        office.milestone(case, w, "FAMILY_FIRST_CONTACT", dt.date(2025, 6, 1 + i))


def _rows(s: Session, query: Select[Any]) -> set[frozenset[tuple[str, Any]]]:
    """Rows by column name (the table's column order need not be the computed select's)."""
    return {frozenset(r._mapping.items()) for r in s.execute(query)}


def _assert_complete(db_factory: sessionmaker[Session]) -> None:
    _assert_complete_summary(db_factory)  # what a dashboard reads: its watermark is the counter
    with db_factory() as s:
        upto = s.scalars(select(SyncCounter.seq)).one()
        assert upto > 0
        for table in EVERY_KEPT:
            mark = kept.watermark(s, table)
            # Complete: nothing numbered since its watermark (the evaluation numbers the alerts it
            # raises after refreshing the facts, so their watermark may be below the counter).
            assert mark is not None and not table.changed(s, mark, upto), table.name
            stored = _rows(s, select(table.table))
            assert stored and stored == _rows(s, table.rows(None)), table.name


@contextmanager
def writes_to_derived() -> Iterator[list[str]]:
    """The statements, on any engine, that write to the summary or to a watermark."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE")) and any(t in statement for t in DERIVED):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", listener)


def _dashboard_writes(client: TestClient) -> list[str]:
    login(client, "s1")
    with writes_to_derived() as seen:
        assert client.get("/dashboard?fiscal_year=2025").status_code == 200
    return seen


def test_migrate_builds_every_kept_table(
    records: None,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    db_factory: sessionmaker[Session],
    client: TestClient,
) -> None:
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["migrate"]) == 0
    _assert_complete(db_factory)
    assert _dashboard_writes(client) == []  # nothing to rebuild, nor to recompute
    with db_factory() as s, s.begin():
        report_summary.forget(s)
    assert _dashboard_writes(client)  # without it, the request builds the summary (the spy sees it)


def test_one_runner_pass_brings_every_kept_table_up_to_date(
    records: None, settings: Settings, db_factory: sessionmaker[Session], client: TestClient
) -> None:
    runner = AlertRunner(
        db_factory, dataclasses.replace(settings, alert_interval_minutes=15), sender=FakeSender(),
        now=lambda: dt.datetime(2025, 8, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    assert runner.evaluate_if_leased() is not None
    _assert_complete(db_factory)
    assert _dashboard_writes(client) == []


def test_the_watermark_row_is_created_once_and_forgotten(records: None, db_factory: sessionmaker[Session]) -> None:
    with db_factory() as s, s.begin():
        assert kept.watermark(s, report_summary.SUMMARY) is None
        assert kept.refresh(s, report_summary.SUMMARY) == kept.REBUILT  # never built: from every record
        assert kept.refresh(s, report_summary.SUMMARY) == 0
        kept.forget(s, report_summary.SUMMARY)
        assert kept.watermark(s, report_summary.SUMMARY) is None
        assert kept.refresh(s, report_summary.SUMMARY) == kept.REBUILT
    _assert_complete_summary(db_factory)


def _assert_complete_summary(db_factory: sessionmaker[Session]) -> None:
    with db_factory() as s:
        t = report_summary.SUMMARY
        assert kept.watermark(s, t) == s.scalars(select(SyncCounter.seq)).one()
        assert _rows(s, select(t.table)) == _rows(s, t.rows(None))
        assert t.totals is not None  # and its totals per team, program item and month
        stored = _rows(s, select(t.totals.table))
        assert stored and stored == _rows(s, t.totals.rows(None))
