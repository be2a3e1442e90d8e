"""`yorisoi device-exposure DEVICE_ID` (issue 7): which persons' records a device has held, from the
sync log — what the pulls carried to it and what it pushed — including cases that have since left
its scope, and nothing it never held."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from server.db import utcnow
from server.models import AuditEvent, CareRelation, CaseAssignment, HouseholdMember, Person
from tests.device_support import DeviceClient, run_cli
from tests.factories import Factory
from tests.sync_support import case_create_args


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], tmp_path) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    return database_url


@pytest.fixture
def phone(app: Any) -> Iterator[DeviceClient]:
    p = DeviceClient(app)
    yield p
    p.close()
    app.state.engine.dispose()


def _person(s: Session, family: str, given: str) -> Person:
    p = Person(family_name=family, given_name=given)
    s.add(p)
    s.flush()
    return p


def _pull_all(phone: DeviceClient) -> None:
    cursor = ""
    for _ in range(50):
        r = phone.pull(**({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        cursor = r.json()["cursor"]
        if not r.json()["has_more"]:
            return
    raise AssertionError("pull never finished")


def test_exposure_lists_every_person_the_device_held(
    env: str,
    factory: Factory,
    phone: DeviceClient,
    db_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = factory.user("w1")
    factory.user("w2")
    yamada = factory.case(workers=(w,), family_name="山田", given_name="太郎")
    later_unassigned = factory.case(workers=(w,), family_name="鈴木", given_name="一郎")
    never = factory.case(family_name="秘密", given_name="花子")  # nobody's: never on the phone
    with db_factory() as s, s.begin():
        mother = _person(s, "山田", "ハナ")
        s.add(HouseholdMember(household_id=yamada.household_id, person_id=mother.id, relationship="母"))
        carer = _person(s, "田中", "次郎")
        s.add(CareRelation(carer_id=carer.id, cared_id=yamada.person_id, kind="介護"))
    assert phone.sign_in("w1").status_code == 200
    _pull_all(phone)
    # Created on the phone and pushed: held before the server ever sent it back.
    new_case = case_create_args(household={"municipality": "テスト市", "town": "本町"})  # 佐藤 花子
    r = phone.push([{"mid": 1, "name": "case.create", "args": new_case, "client_time": "2025-05-01T10:00:00+09:00"}])
    assert r.json()["results"][0]["status"] == "applied", r.text
    # Leaving the scope later does not erase the past.
    with db_factory() as s, s.begin():
        s.execute(update(CaseAssignment).where(CaseAssignment.case_id == later_unassigned.id).values(ended_at=utcnow()))
    _pull_all(phone)
    other = DeviceClient(phone.http.app)
    assert other.sign_in("w2").status_code == 200
    _pull_all(other)
    other.close()

    assert run_cli(monkeypatch, ["device-exposure", str(phone.device_id)]) == 0
    out = capsys.readouterr().out
    assert "held records of 5 person(s) in 3 case(s)" in out
    relations = ("case_person", "household_member", "care_relation")
    rows = [line.split() for line in out.splitlines() if any(f" {r} " in line for r in relations)]
    named = {(r[1], r[2], r[3]) for r in rows}
    assert named == {
        ("山田", "太郎", "case_person"),
        ("山田", "ハナ", "household_member"),
        ("田中", "次郎", "care_relation"),
        ("鈴木", "一郎", "case_person"),
        ("佐藤", "花子", "case_person"),
    }
    assert "秘密" not in out and str(never.id) not in out
    assert f"device {phone.device_id} of w1 (active" in out
    with db_factory() as s:
        listed = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "device.exposure_listed")
        )
        assert listed == 1


def test_exposure_of_a_device_that_held_nothing_and_of_an_unknown_device(
    env: str, factory: Factory, phone: DeviceClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    factory.user("w1")
    assert phone.sign_in("w1").status_code == 200
    assert phone.pull().status_code == 200
    assert run_cli(monkeypatch, ["device-exposure", str(phone.device_id)]) == 0
    assert "held records of 0 person(s) in 0 case(s)" in capsys.readouterr().out
    assert run_cli(monkeypatch, ["device-exposure", str(uuid.uuid4())]) == 1
    assert "device_not_found" in capsys.readouterr().err
