"""Test data factories over the real models. Each call commits, like the app would."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import cache
from typing import Any

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.kana import kana_key
from server.models import Case, CaseAssignment, Contact, Household, Organisation, Person, Team, User
from server.security.passwords import hash_password
from server.services.totp import REQUIRED_ROLES
from server.vocab import OUTCOMES, OrgKind

PASSWORD = "correct horse battery"


@cache
def _hash(password: str) -> str:
    return hash_password(password)


# Office roles must use two-factor sign-in; test users of those roles get this secret, and `login()`
# answers the TOTP challenge with a fresh code (see `_totp_code`).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_active_db: list[sessionmaker[Session]] = []


class Factory:
    def __init__(self, db_factory: sessionmaker[Session]) -> None:
        self.db = db_factory
        _active_db[:] = [db_factory]

    def municipality(self, name: str = "テスト市") -> Organisation:
        with self.db() as s, s.begin():
            org = s.scalar(select(Organisation).where(Organisation.name == name))
            if org is None:
                org = Organisation(name=name, kind=OrgKind.MUNICIPALITY)
                s.add(org)
            return org

    def team(self, name: str = "北部班", municipality: str = "テスト市") -> Team:
        org = self.municipality(municipality)
        with self.db() as s, s.begin():
            team = s.scalar(select(Team).where(Team.name == name))
            if team is None:
                team = Team(name=name, municipality_id=org.id, operator_id=org.id)
                s.add(team)
            return team

    def user(
        self,
        username: str,
        role: str = "worker",
        team: str = "北部班",
        password: str = PASSWORD,
        municipality: str = "テスト市",
        **kw: Any,
    ) -> User:
        t = self.team(team, municipality)
        if role in REQUIRED_ROLES:
            kw.setdefault("totp_secret", TOTP_SECRET)
        with self.db() as s, s.begin():
            user = User(
                username=username,
                display_name=kw.pop("display_name", username),
                role=role,
                team_id=t.id,
                password_hash=_hash(password),
                **kw,
            )
            s.add(user)
            return user

    def case(
        self,
        team: str = "北部班",
        workers: tuple[User, ...] = (),
        family_name: str = "山田",
        given_name: str = "太郎",
        kana: tuple[str, str] = ("ヤマダ", "タロウ"),
        **kw: Any,
    ) -> Case:
        t = self.team(team)
        with self.db() as s, s.begin():
            person = Person(
                family_name=family_name,
                given_name=given_name,
                family_name_kana=kana[0],
                given_name_kana=kana[1],
                kana_key=kana_key(*kana),
                phone=kw.pop("phone", ""),
            )
            household = Household(municipality="テスト市", town="本町")
            s.add_all([person, household])
            s.flush()
            case = Case(
                person_id=person.id,
                household_id=household.id,
                team_id=t.id,
                referral_source=kw.pop("referral_source", "minsei_iin"),
                identified_on=kw.pop("identified_on", dt.date(2025, 4, 1)),
                categories=kw.pop("categories", ["hikikomori"]),
                **kw,
            )
            s.add(case)
            s.flush()
            for i, w in enumerate(workers):
                s.add(CaseAssignment(case_id=case.id, user_id=w.id, is_primary=i == 0))
            return case

    def contact(self, case: Case, by: User, outcome: str = "NO_ANSWER", **kw: Any) -> Contact:
        with self.db() as s, s.begin():
            c = Contact(
                id=kw.pop("id", uuid.uuid4()),
                case_id=case.id,
                occurred_at=kw.pop("occurred_at", dt.datetime(2025, 5, 1, 1, 0, tzinfo=dt.UTC)),
                method=kw.pop("method", "HOME_VISIT"),
                counterpart=kw.pop("counterpart", "NONE"),
                outcome=outcome,
                reached=OUTCOMES[outcome],
                recorded_by=by.id,
                **kw,
            )
            s.add(c)
            return c


def totp_code(username: str) -> str:
    """A valid, unused TOTP code for a test user. A code works once per 30-second step, and tests
    sign in the same user several times a step, so the remembered step is cleared first — in the
    test database only; the rule itself is tested in tests/test_totp.py."""
    with _active_db[0]() as s, s.begin():
        user = s.scalars(select(User).where(User.username == username)).one()
        user.totp_last_step = None
        secret = user.totp_secret or ""
    return str(pyotp.TOTP(secret).now())


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    r = client.post("/api/session", json={"username": username, "password": password})
    if r.status_code == 401 and r.json()["error"]["code"] == "totp_required":
        r = client.post(
            "/api/session", json={"username": username, "password": password, "totp": totp_code(username)}
        )
    assert r.status_code == 200, r.text
    return dict(r.json()["user"])
