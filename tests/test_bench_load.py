"""The morning-burst generator (bench/load.py) still drives the real protocol: against a real
server process, a few phones sign in, push, and pull from the cursor the bench builds for
"yesterday" without a reset, and pick up the evening's changes. Timings are never asserted (the
bench prints them); this guards the harness against drifting from sync/PROTOCOL.md."""

from __future__ import annotations

import random
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench import load
from bench.databases import temporary_url
from bench.generate import QUICK, populate
from bench.live import serve
from server import migrate
from server.db import make_engine
from server.models import Device
from tests.conftest import PG_URL

pytestmark = pytest.mark.slow
PHONES = 6


def test_a_small_burst_syncs_every_phone_without_errors(tmp_path: Path) -> None:
    kind = "postgres" if PG_URL else "sqlite"
    with temporary_url(kind, PG_URL) as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            pop = populate(engine, QUICK)
            with serve(url, tmp_path / "data") as served:
                figures = {f.name: f for f in load.load_figures(engine, pop, served, phones=PHONES, ramp=1.0)}
                assert served.peak_rss_mib() > 0
            with Session(engine) as s:
                devices = list(s.scalars(select(Device).where(Device.label == "")))
        finally:
            engine.dispose()
    assert figures["load_errors"].value == 0
    assert figures["load_p95"].target == 300
    assert figures["load_throughput"].value > 0
    assert figures["load_server_cpu_per_request"].value > 0  # read from the server process's /proc entry
    assert figures["load_p95_without_signin"].value > 0
    morning = [d for d in devices if d.last_mid == load.MUTATIONS]
    assert len(morning) == PHONES  # every phone's three contacts applied, once
    assert all(d.last_pull_at is not None and d.last_pull_at > d.created_at for d in morning)


def test_yesterdays_cursor_is_the_one_a_complete_pull_ends_on(tmp_path: Path) -> None:
    """A pull from the bench's cursor with nothing changed since answers no changes and no reset."""
    with temporary_url("sqlite") as url:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            pop = populate(engine, QUICK)
            phone = load.yesterday(engine, 1, random.Random(1), sessions=True)[0]
            with serve(url, tmp_path / "data") as served, httpx.Client(base_url=served.url) as c:
                c.cookies.set(load.SESSION_COOKIE, phone.session)
                params = {"client_id": str(phone.client_id), "cursor": phone.cursor}
                answer = c.get("/api/sync/pull", params=params).json()
        finally:
            engine.dispose()
    assert pop.worker_case_ids
    assert answer["reset"] is False
    assert answer["changes"] == []
    assert answer["has_more"] is False
