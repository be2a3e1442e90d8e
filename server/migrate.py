"""Schema migrations (alembic), driven from code so that `yorisoi migrate` and the tests share it."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server.models import ServerState, SyncCounter

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema and make sure the singleton rows exist. Idempotent."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with Session(engine) as session, session.begin():
        if session.get(SyncCounter, 1) is None:
            session.add(SyncCounter(id=1, seq=0))
        if session.scalar(select(ServerState).where(ServerState.id == 1)) is None:
            session.add(ServerState(id=1, epoch=uuid.uuid4()))


def check(engine: Engine) -> None:
    """Raise when the models and the migrations disagree (`alembic check`)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)
