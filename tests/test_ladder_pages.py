"""The city's ladder where people see it: the office timeline, chart, case list, export and summary
show the city's labels; a hidden step is not offered but old events on it still show with their
label; the phones' reference data carries the ladder and is re-sent when it changes; and the admin
page /admin/ladder (admins only, same-origin, audited)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent, Case, MilestoneEvent, Organisation, User
from server.services import ladder as ladders
from tests.admin_support import NOT_ADMINS, assert_admins_only, assert_cross_site_refused
from tests.factories import Factory, login
from tests.factories_office import OfficeFactory
from tests.sync_support import Clients, milestone_args

FACE_JA, FACE_EN = "顔を合わせて話せた", "Met face to face at last"
VOICE_JA = "本人と初めて言葉を交わした（ドア越し可）"  # the standard label of the step we hide


def configure(db_factory: sessionmaker[Session], raw: dict[str, Any]) -> None:
    with db_factory() as s, s.begin():
        city = s.scalars(select(Organisation.id)).one()
        ladders.save(s, None, city, raw)


CITY = {
    "FIRST_FACE_TO_FACE": {"labels": {"ja": FACE_JA, "en": FACE_EN}},
    "FIRST_VOICE_CONTACT": {"hidden": True},  # an old event on it exists
    "PLAN_AGREED": {"hidden": True},  # nobody reached it
}


@pytest.fixture
def seeded(factory: Factory, db_factory: sessionmaker[Session]) -> tuple[User, User, Case]:
    worker = factory.user("w1")
    coordinator = factory.user("c1", role="coordinator")
    case = factory.case(workers=(worker,))
    office = OfficeFactory(db_factory)
    for m, day in (("FIRST_VOICE_CONTACT", 5), ("FIRST_FACE_TO_FACE", 20)):
        office.milestone(case, worker, m, dt.date(2025, 5, day), sharing_basis="CONSENT")
    configure(db_factory, CITY)
    return worker, coordinator, case


def rung_labels(html: str) -> list[str]:
    """The ladder chart's row labels."""
    return re.findall(r'text-anchor="end" class="label">([^<]+)</text>', html)


def test_the_timeline_and_chart_use_the_citys_labels(client: TestClient, seeded: tuple[User, User, Case]) -> None:
    _w, _c, case = seeded
    login(client, "c1")
    html = client.get(f"/cases/{case.id}").text
    assert f"<strong>{FACE_JA}</strong>" in html  # the timeline entry
    assert "本人と初めて対面" not in html  # the standard label is gone everywhere
    assert f"<strong>{VOICE_JA}</strong>" in html  # hidden, but the old event still shows with its label
    rungs = rung_labels(html)
    assert FACE_JA in rungs and "初めて言葉を交わした" in rungs  # a hidden step with an event keeps its row
    assert "支援プラン合意" not in rungs and len(rungs) == 14  # a hidden step nobody reached has none
    assert f"{FACE_JA}</dd>" in html  # the current stage, derived as before


def test_english_pages_use_the_english_label(
    client: TestClient, seeded: tuple[User, User, Case], db_factory: sessionmaker[Session]
) -> None:
    _w, coordinator, case = seeded
    with db_factory() as s, s.begin():
        s.get_one(User, coordinator.id).language = "en"
    login(client, "c1")
    html = client.get(f"/cases/{case.id}").text
    assert FACE_EN in html and FACE_JA not in html


def test_case_list_export_and_summary_use_the_citys_labels(
    client: TestClient, seeded: tuple[User, User, Case]
) -> None:
    _w, _c, case = seeded
    login(client, "c1")
    listing = client.get("/cases").text
    assert f'<option value="FIRST_FACE_TO_FACE">{FACE_JA}</option>' in listing  # the stage filter
    assert f"<br>{FACE_JA}</td>" in listing  # the case's stage column
    export = client.get(f"/cases/{case.id}/export").text
    summary = client.get(f"/cases/{case.id}/summary").text
    for page in (export, summary):
        assert FACE_JA in page and "本人と初めて対面" not in page and VOICE_JA in page
    # The disclosure JSON keeps the stored ids: the history is the same whatever the labels.
    data = client.get(f"/cases/{case.id}/export", params={"format": "json"}).json()
    ids = {m["milestone"] for c in data["cases"] for m in c["milestones"]}
    assert ids == {"FIRST_FACE_TO_FACE", "FIRST_VOICE_CONTACT"}


# ---- the phones' reference data ----



def test_reference_carries_the_ladder_and_is_resent_when_it_changes(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    worker = factory.user("w1")
    case = factory.case(workers=(worker,))
    phone = clients.phone("w1")
    phone.sync()
    ladder = phone.store[("reference", "reference")]["milestones"]
    assert [m["id"] for m in ladder][:2] == ["IDENTIFIED", "FAMILY_FIRST_CONTACT"]
    assert not any(m["hidden"] for m in ladder)
    assert phone.pull()["changes"] == []  # nothing changed: no reference

    configure(db_factory, CITY)
    changes = phone.pull()["changes"]
    assert [c["entity"] for c in changes] == ["reference"]
    steps = {m["id"]: m for m in phone.store[("reference", "reference")]["milestones"]}
    face = steps["FIRST_FACE_TO_FACE"]
    assert face["labels"] == {"ja": FACE_JA, "en": FACE_EN} == face["short"]
    assert steps["FIRST_VOICE_CONTACT"]["hidden"] is True and steps["PLAN_AGREED"]["hidden"] is True
    assert steps["FIRST_VOICE_CONTACT"]["labels"]["ja"] == VOICE_JA  # old events still get their label
    assert face["rank"] == 6 and steps["SETBACK"]["hidden"] is False
    assert phone.pull()["changes"] == []

    # A phone that recorded the step offline before it was hidden still gets it accepted: the event
    # happened, and the history keeps its id.
    result = phone.do("milestone.record", milestone_args(case.id, "PLAN_AGREED"))
    assert result["status"] == "applied", result
    with db_factory() as s:
        assert s.scalars(select(MilestoneEvent.milestone)).all() == ["PLAN_AGREED"]


# ---- the admin page ----


@pytest.fixture
def admin(client: TestClient, factory: Factory) -> TestClient:
    factory.user("a1", role="admin")
    login(client, "a1")
    return client


def form(**changes: str) -> dict[str, str]:
    """The admin form as the browser sends it: every label field, blank unless given."""
    data = {f"label_{lang}.{m}": "" for m in ladders.default().choosable for lang in ("ja", "en")}
    data.update(changes)
    return data


def test_admin_relabels_and_hides(admin: TestClient, db_factory: sessionmaker[Session]) -> None:
    page = admin.get("/admin/ladder")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'name="label_ja.FIRST_FACE_TO_FACE"' in page.text and 'name="hidden.SETBACK"' not in page.text
    r = admin.post(
        "/admin/ladder",
        data=form(**{"label_ja.FIRST_FACE_TO_FACE": FACE_JA, "hidden.PLAN_AGREED": "1"}),
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/admin/ladder?done=saved"
    with db_factory() as s:
        assert s.scalars(select(Organisation.settings)).one()["milestones"] == {
            "FIRST_FACE_TO_FACE": {"labels": {"ja": FACE_JA}},
            "PLAN_AGREED": {"hidden": True},
        }
        logged = s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.ladder")).one()
        assert logged.fields == ["FIRST_FACE_TO_FACE.label_ja", "PLAN_AGREED.hidden"] and logged.actor_role == "admin"
    shown = admin.get("/admin/ladder?done=saved").text
    assert "保存しました。" in shown and f'value="{FACE_JA}"' in shown
    assert re.search(r'name="hidden.PLAN_AGREED" value="1" checked', shown)
    # Clearing the field puts the standard label back.
    admin.post("/admin/ladder", data=form(**{"hidden.PLAN_AGREED": "1"}))
    with db_factory() as s:
        assert s.scalars(select(Organisation.settings)).one()["milestones"] == {"PLAN_AGREED": {"hidden": True}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"label_en.CONNECTED": "x" * 41}, "The label is too long."),
        ({f"hidden.{m}": "1" for m in ladders.default().choosable if m != "SETBACK"}, "Not every step can be hidden"),
        ({"hidden.SETBACK": "1"}, "This step is always offered."),
    ],
)
def test_admin_errors_show_on_the_form_and_change_nothing(
    admin: TestClient, db_factory: sessionmaker[Session], factory: Factory, changes: dict[str, str], message: str
) -> None:
    with db_factory() as s, s.begin():
        s.scalars(select(User).where(User.username == "a1")).one().language = "en"
    login(admin, "a1")
    r = admin.post("/admin/ladder", data=form(**changes))
    assert r.status_code == 422 and message in r.text
    for value in changes.values():
        if value != "1":
            assert f'value="{value}"' in r.text and 'aria-invalid="true"' in r.text  # kept, and marked
    with db_factory() as s:
        assert "milestones" not in s.scalars(select(Organisation.settings)).one()
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.ladder")).all() == []


def test_admin_form_is_same_origin_only(admin: TestClient, db_factory: sessionmaker[Session]) -> None:
    assert_cross_site_refused(admin, "/admin/ladder", form(**{"hidden.PLAN_AGREED": "1"}))
    with db_factory() as s:
        assert "milestones" not in s.scalars(select(Organisation.settings)).one()


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_only_admins_may_see_or_change_the_ladder(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session], role: str
) -> None:
    assert_admins_only(client, factory, role, "/admin/ladder", "/admin/ladder", form(**{"hidden.PLAN_AGREED": "1"}))
    with db_factory() as s:
        assert "milestones" not in s.scalars(select(Organisation.settings)).one()


def test_signed_out_is_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/admin/ladder", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_admin_home_links_to_the_ladder_page(admin: TestClient) -> None:
    assert 'href="/admin/ladder"' in admin.get("/").text


def test_unknown_form_fields_are_ignored(admin: TestClient, db_factory: sessionmaker[Session]) -> None:
    """Only the fields of known steps are read: a crafted field name cannot store anything else."""
    r = admin.post("/admin/ladder", data=form(**{"label_ja.NOPE": "x", "hidden.NOPE": "1", "label_fr.CONNECTED": "x"}))
    assert r.status_code == 200  # redirected back to the page
    with db_factory() as s:
        assert s.scalars(select(Organisation.settings)).one().get("milestones") is None
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.ladder")).all() == []
