"""The `yorisoi` command line, run in-process against the test database and once as a real process."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.cli import main
from server.models import Team, User
from server.security.passwords import verify_password


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], tmp_path) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    return database_url


def run(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(argv)


def test_migrate_is_safe_twice(env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(monkeypatch, ["migrate"]) == 0
    assert run(monkeypatch, ["migrate"]) == 0
    assert "newest schema" in capsys.readouterr().out


def test_create_user_creates_team_and_hashes_password(
    env: str, monkeypatch: pytest.MonkeyPatch, db: Session
) -> None:
    code = run(
        monkeypatch,
        ["create-user", "sato", "--role", "coordinator", "--team", "西部班", "--display-name", "佐藤 𠮷子",
         "--password-stdin"],
        stdin="a long enough secret\n",
    )
    assert code == 0
    user = db.scalars(select(User).where(User.username == "sato")).one()
    assert user.role == "coordinator" and user.display_name == "佐藤 𠮷子"
    assert verify_password(user.password_hash, "a long enough secret")
    assert "a long enough secret" not in user.password_hash
    assert db.scalar(select(Team.name).where(Team.id == user.team_id)) == "西部班"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["create-user", "x1", "--role", "worker", "--team", "A", "--password-stdin"], "short\n", "password_too_short"),
        (["create-user", "x1", "--role", "worker", "--team", "A", "--password-stdin"], "password123\n",
         "password_too_common"),
        (["create-user", "Bad Name!", "--role", "worker", "--team", "A", "--password-stdin"], "long enough pw\n",
         "invalid_username"),
        (["create-user", "x1", "--role", "worker", "--team", "A"], "", "--password-stdin"),
    ],
)
def test_create_user_rejects_bad_input_and_creates_nothing(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: Session,
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    assert run(monkeypatch, argv, stdin) != 0
    assert message in capsys.readouterr().err
    assert db.scalar(select(func.count()).select_from(User)) == 0
    assert db.scalar(select(func.count()).select_from(Team)) == 0  # no half-created team


def test_duplicate_username_is_refused(env: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["create-user", "sato", "--role", "worker", "--team", "A", "--password-stdin"]
    assert run(monkeypatch, argv, "long enough pw\n") == 0
    assert run(monkeypatch, argv, "long enough pw\n") == 1
    assert "username_taken" in capsys.readouterr().err


def test_unknown_role_is_a_usage_error(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exc:
        run(monkeypatch, ["create-user", "x", "--role", "boss", "--team", "A", "--password-stdin"])
    assert exc.value.code == 2


def test_console_script_runs_as_a_process(env: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run(
        [sys.executable, "-m", "server", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"YORISOI_DATABASE_URL": env, "YORISOI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    bad = subprocess.run([sys.executable, "-m", "server", "frobnicate"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_demo_sign_ins_work_including_two_factor(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], client
) -> None:  # type: ignore[no-untyped-def]
    assert run(monkeypatch, ["demo"]) == 0
    out = capsys.readouterr().out
    assert "worker1" in out and "coord1" in out and "yorisoi-demo-2026" in out
    assert run(monkeypatch, ["demo"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    r = client.post("/api/session", json={"username": "worker1", "password": "yorisoi-demo-2026"})
    assert r.status_code == 200
    r = client.post("/api/session", json={"username": "coord1", "password": "yorisoi-demo-2026"})
    assert r.json()["error"]["code"] == "totp_required"
    assert run(monkeypatch, ["demo-code", "coord1"]) == 0
    code = capsys.readouterr().out.strip()
    r = client.post("/api/session", json={"username": "coord1", "password": "yorisoi-demo-2026", "totp": code})
    assert r.status_code == 200, r.text
    assert run(monkeypatch, ["demo-code", "nobody"]) == 1
