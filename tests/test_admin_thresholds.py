"""The admin page for the stall rules' thresholds per team (/admin/thresholds): admins only, their
own municipality's teams only, every value checked before anything is stored, audited, and the
evaluation uses what was saved."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent, Team
from tests.admin_support import NOT_ADMINS, assert_admins_only, assert_cross_site_refused
from tests.alert_support import jst, rules_for
from tests.factories import Factory, login


@pytest.fixture
def admin(client: TestClient, factory: Factory) -> TestClient:
    factory.user("a1", role="admin")
    login(client, "a1")
    return client


def team(db_factory: sessionmaker[Session], name: str = "北部班") -> Team:
    with db_factory() as s:
        return s.scalars(select(Team).where(Team.name == name)).one()


def audited(db_factory: sessionmaker[Session]) -> list[AuditEvent]:
    with db_factory() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.thresholds")))


def test_admin_sets_a_teams_thresholds_and_the_evaluation_uses_them(
    admin: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    worker = factory.user("w1")
    case = factory.case(workers=(worker,), identified_on=dt.date(2025, 4, 1))  # never reached: counted from here
    factory.team("南部班")
    factory.team("他市の班", municipality="他市")
    page = admin.get("/admin/thresholds")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "北部班" in page.text and "南部班" in page.text and "他市の班" not in page.text
    north = team(db_factory)
    on_day_20 = jst(2025, 4, 21)
    assert "S2" not in rules_for(db_factory, case, on_day_20)

    form = {"s2_caution_days": "20", "s2_warning_days": "40", "s2_meeting_days": "", "s3_attempts": " 5 "}
    r = admin.post(f"/admin/thresholds/{north.id}", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/admin/thresholds?done=saved#team-{north.id}"
    assert team(db_factory).stall_thresholds == {"s2_caution_days": 20, "s2_warning_days": 40, "s3_attempts": 5}
    assert team(db_factory, "南部班").stall_thresholds == {}
    [event] = audited(db_factory)
    assert event.fields == ["s2_caution_days", "s2_warning_days", "s3_attempts"] and event.actor_role == "admin"
    assert str(event.entity_id) == str(north.id)
    assert rules_for(db_factory, case, on_day_20)["S2"] == "caution"
    shown = admin.get("/admin/thresholds?done=saved").text
    assert "保存しました。" in shown and 'value="20"' in shown and 'value="5"' in shown

    # The same again changes nothing and audits nothing; a blank field puts the default back.
    admin.post(f"/admin/thresholds/{north.id}", data=form)
    assert len(audited(db_factory)) == 1
    admin.post(f"/admin/thresholds/{north.id}", data={**form, "s3_attempts": ""})
    assert team(db_factory).stall_thresholds == {"s2_caution_days": 20, "s2_warning_days": 40}
    assert audited(db_factory)[-1].fields == ["s3_attempts"]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"s1_grace_days": "seven"}, "s1_grace_days", "1〜3650 の整数"),
        ({"s1_grace_days": "７"}, "s1_grace_days", "1〜3650 の整数"),  # full-width digits are not taken as 7
        ({"s4_days": "0"}, "s4_days", "1〜3650 の整数"),
        ({"s3_attempts": "1"}, "s3_attempts", "2〜100 の整数"),
        ({"s2_warning_days": "20"}, "s2_warning_days", "注意 ＜ 警告 ＜ 要会議 の順"),  # below caution (30)
    ],
)
def test_an_invalid_value_is_shown_on_the_form_and_nothing_changes(
    admin: TestClient, db_factory: sessionmaker[Session], form: dict[str, str], field: str, message: str
) -> None:
    north = team(db_factory)
    r = admin.post(f"/admin/thresholds/{north.id}", data={"escalate_days": "3", **form})
    assert r.status_code == 422
    assert message in r.text and 'aria-invalid="true"' in r.text and f'name="{field}"' in r.text
    assert 'value="3"' in r.text  # what was typed stays in the form
    assert team(db_factory).stall_thresholds == {} and audited(db_factory) == []


def test_another_municipalitys_team_is_not_found(
    admin: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    elsewhere = factory.team("他市の班", municipality="他市")
    r = admin.post(f"/admin/thresholds/{elsewhere.id}", data={"s4_days": "100"})
    assert r.status_code == 404
    assert team(db_factory, "他市の班").stall_thresholds == {} and audited(db_factory) == []


def test_the_form_is_same_origin_only(admin: TestClient, db_factory: sessionmaker[Session]) -> None:
    north = team(db_factory)
    assert_cross_site_refused(admin, f"/admin/thresholds/{north.id}", {"s4_days": "100"})
    assert team(db_factory).stall_thresholds == {}


@pytest.mark.parametrize("role", NOT_ADMINS)
def test_only_admins_may_see_or_change_thresholds(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session], role: str
) -> None:
    north = factory.team()  # the team the user joins
    assert_admins_only(client, factory, role, "/admin/thresholds", f"/admin/thresholds/{north.id}", {"s4_days": "100"})
    assert team(db_factory).stall_thresholds == {}


def test_admin_home_links_to_the_thresholds_page(admin: TestClient) -> None:
    assert 'href="/admin/thresholds"' in admin.get("/").text
