"""The admin audit page: only `audit.read` (admins) gets it; filters by actor, action, case,
dates and outcome; pagination; the CSV export (UTF-8 BOM) holds the filtered rows and is itself
audited — in the chain, which still verifies."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent
from server.permissions import Actor
from server.services import audit
from server.services.audit_search import Filters, parse_filters
from tests.factories import Factory, login


def seed(db_factory: sessionmaker[Session], factory: Factory) -> uuid.UUID:
    w = factory.user("w1")
    factory.user("c1", role="coordinator")
    case_a = uuid.uuid4()
    with db_factory() as s, s.begin():
        wa = Actor(user_id=w.id, role="worker", team_id=w.team_id, municipality_id=uuid.uuid4())
        for _ in range(60):
            audit.record(s, wa, "case.read", entity="case", entity_id=case_a, case_id=case_a, fields=["notes"])
        audit.record(s, wa, "contact.create", entity="contact", entity_id=uuid.uuid4(), case_id=uuid.uuid4())
        audit.record(s, wa, "case.read", entity="case", entity_id=uuid.uuid4(), outcome="denied", detail="out_of_scope")
    return case_a


@pytest.fixture
def admin(client: TestClient, factory: Factory) -> TestClient:
    factory.user("a1", role="admin")
    login(client, "a1")
    return client


@pytest.mark.parametrize("role", ["worker", "coordinator", "supervisor"])
def test_only_admins(client: TestClient, factory: Factory, role: str) -> None:
    factory.user("u1", role=role)
    login(client, "u1")
    for path in ("/admin/audit", "/admin/audit.csv"):
        assert client.get(path).status_code == 403


def test_signed_out_is_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/admin/audit", follow_redirects=False)
    assert r.status_code in (302, 303, 401)
    assert client.get("/admin/audit.csv", follow_redirects=False).status_code in (302, 303, 401)


def test_search_filters_and_pages(admin: TestClient, db_factory: sessionmaker[Session], factory: Factory) -> None:
    case_a = seed(db_factory, factory)
    page = admin.get("/admin/audit", params={"actor": "w1"})
    assert page.status_code == 200
    assert "62 件" in page.text and "1 / 2" in page.text and 'rel="next"' in page.text
    assert "2 / 2" in admin.get("/admin/audit", params={"actor": "w1", "page": "2"}).text
    assert "60 件" in admin.get("/admin/audit", params={"case_id": str(case_a)}).text
    assert "1 件" in admin.get("/admin/audit", params={"action": "contact.create"}).text
    assert "61 件" in admin.get("/admin/audit", params={"action": "case."}).text  # a prefix
    denied = admin.get("/admin/audit", params={"outcome": "denied", "actor": "w1"})
    assert "1 件" in denied.text and "out_of_scope" in denied.text
    assert "0 件" in admin.get("/admin/audit", params={"actor": "nobody"}).text
    today = dt.datetime.now(dt.UTC).date()
    assert (
        "62 件"
        in admin.get("/admin/audit", params={"actor": "w1", "date_from": str(today - dt.timedelta(days=1))}).text
    )
    assert "0 件" in admin.get("/admin/audit", params={"date_to": "2020-01-01"}).text
    assert admin.get("/admin/audit", params={"case_id": "not-an-id"}).status_code == 400
    assert admin.get("/admin/audit", params={"outcome": "maybe"}).status_code == 400
    assert admin.get("/admin/audit", params={"date_from": "2025-05-02", "date_to": "2025-05-01"}).status_code == 400


def test_csv_export_is_filtered_and_audited(
    admin: TestClient, db_factory: sessionmaker[Session], factory: Factory
) -> None:
    case_a = seed(db_factory, factory)
    r = admin.get("/admin/audit.csv", params={"case_id": str(case_a)})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf") and b"\r\n" in r.content
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["連番", "日時", "利用者"]
    assert len(rows) == 61 and {row[9] for row in rows[1:]} == {str(case_a)}
    assert {row[2] for row in rows[1:]} == {"w1"} and {row[10] for row in rows[1:]} == {"notes"}
    with db_factory() as s:
        exported = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
        assert exported.fields == ["case_id"] and exported.detail == "60 rows; filters case_id"
        assert str(case_a) not in exported.detail  # filter names, not values
        assert list(audit.verify(s)) == []
    # the export shows up in the log it exported from
    assert "audit.export" in admin.get("/admin/audit", params={"action": "audit.export"}).text


def test_parse_filters() -> None:
    assert parse_filters({}) == Filters()
    f = parse_filters({"actor": " w1 ", "date_from": "2025-04-01", "outcome": "ok"})
    assert f.actor == "w1" and f.date_from == dt.date(2025, 4, 1) and f.used() == ["actor", "date_from", "outcome"]
