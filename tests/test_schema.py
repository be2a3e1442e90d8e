"""The schema: migrations and models agree, and any kanji round-trips unchanged."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from server import migrate
from server.models import Person


def test_models_and_migrations_agree(engine: Engine) -> None:
    migrate.check(engine)  # raises when `alembic check` finds a difference


def test_upgrade_is_idempotent(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.check(engine)


def test_rare_kanji_round_trip(db_factory: sessionmaker[Session]) -> None:
    names = ("𠮷野", "髙橋", "﨑山", "渡邊", "齋藤", "𩸽")
    with db_factory() as s, s.begin():
        for n in names:
            s.add(Person(family_name=n, given_name="一郎", birth_year=1975))
    with db_factory() as s:
        stored = set(s.scalars(select(Person.family_name)))
    assert stored == set(names)


def test_timestamps_come_back_timezone_aware(db_factory: sessionmaker[Session]) -> None:
    with db_factory() as s, s.begin():
        p = Person(family_name="山田")
        s.add(p)
    with db_factory() as s:
        created = s.scalars(select(Person.created_at)).one()
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
