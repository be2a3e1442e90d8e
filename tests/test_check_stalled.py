"""`yorisoi check-stalled` prints what it raised and what it resolved; `push-vapid-key` prints the
public key. Run in-process against the test database, and once as a real process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.cli import main
from server.models import Alert
from tests.alert_support import jst
from tests.factories import Factory


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], tmp_path: Path) -> str:
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("YORISOI_QUIET_HOURS", "")
    return database_url


def test_check_stalled_prints_raised_then_resolved(
    env: str, factory: Factory, capsys: pytest.CaptureFixture[str], db_factory: sessionmaker[Session]
) -> None:
    worker = factory.user("w1")
    factory.user("coord", role="coordinator")
    case = factory.case(workers=(worker,), identified_on=dt.date(2025, 1, 1), created_at=jst(2025, 4, 1),
                        family_name="表示", given_name="されない")
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=jst(2025, 4, 1))

    assert main(["check-stalled", "--now", "2025-05-01T09:00+09:00"]) == 0
    out = capsys.readouterr().out
    assert f"raised    S2              caution  case {case.id}" in out
    assert "summary: raised 1, reopened 0, level 0, escalated 0, resolved 0; held back 0" in out
    assert "表示" not in out and "されない" not in out

    assert main(["check-stalled", "--now", "2025-05-01T09:15+09:00"]) == 0
    assert "summary: raised 0, reopened 0, level 0, escalated 0, resolved 0" in capsys.readouterr().out

    factory.contact(case, worker, "PHONE_FAMILY", occurred_at=jst(2025, 5, 2))
    assert main(["check-stalled", "--now", "2025-05-02T12:00+09:00", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"resolved  S2              caution  case {case.id}" in out and "dry run: nothing saved" in out
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.state == "open")) == 1

    assert main(["check-stalled", "--now", "2025-05-02T12:00+09:00"]) == 0
    assert "resolved  S2" in capsys.readouterr().out
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.state == "open")) == 0


def test_check_stalled_refuses_a_time_without_offset(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-stalled", "--now", "2025-05-01T09:00"]) == 2
    assert "offset" in capsys.readouterr().err


def test_push_vapid_key_as_a_real_process(env: str, tmp_path: Path) -> None:
    environment = {**os.environ, "YORISOI_DATA_DIR": str(tmp_path / "keys")}
    run = [sys.executable, "-m", "server", "push-vapid-key"]
    first = subprocess.run(run, env=environment, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    again = subprocess.run(run, env=environment, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert len(first) == 87 and first == again
    assert (tmp_path / "keys" / "vapid_private.pem").stat().st_mode & 0o077 == 0


def test_check_stalled_as_a_real_process(env: str, factory: Factory) -> None:
    factory.case(identified_on=dt.date(2025, 1, 1), created_at=jst(2025, 1, 1))
    done = subprocess.run(
        [sys.executable, "-m", "server", "check-stalled", "--no-push"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "raised    S7" in done.stdout and "summary:" in done.stdout
