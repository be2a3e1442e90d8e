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


def refresh_kept(engine: Engine) -> dict[str, int]:
    """Bring every derived table kept from a watermark up to date (services/kept.py): the stall
    rules' per-case facts and the dashboard's summary. Run by `yorisoi migrate` after upgrading, so
    that neither the first evaluation nor the first dashboard builds them from every record (a new
    table, or a restore of an older backup, has none). Each in its own transaction; safe while the
    server runs (refreshes serialize on the watermark rows). How many cases each recomputed (-1 for
    the summary, or the row count for the facts, after a rebuild)."""
    from server.alerts import case_facts
    from server.services import report_summary

    with Session(engine) as session, session.begin():
        done = case_facts.refresh(session)
    with Session(engine) as session, session.begin():
        done[report_summary.NAME] = report_summary.refresh(session)
    return done


def check(engine: Engine) -> None:
    """Raise when the models and the migrations disagree (`alembic check`)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)
