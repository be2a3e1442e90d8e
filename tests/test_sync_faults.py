"""The real server killed mid-push (SIGKILL) before and after COMMIT, restarted, the push retried:
exactly one effect either way.

The server runs as `uvicorn` in a subprocess on a free loopback port, on the test database. The
crash points are the test-only setting YORISOI_FAULT_INJECT (server/settings.py):
`push_before_commit` kills the process with the push applied but not committed (the retry applies
it), `push_after_commit` kills it after COMMIT, before the answer (the retry is a duplicate).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Contact, Device, SyncMutation
from tests.factories import PASSWORD, Factory
from tests.sync_support import contact_args

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, database_url: str, data_dir: Path, fault: str = "") -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "YORISOI_DATABASE_URL": database_url,
            "YORISOI_DATA_DIR": str(data_dir),
            "YORISOI_BASE_URL": f"http://127.0.0.1:{self.port}",
            "YORISOI_ALERT_INTERVAL_MINUTES": "0",
            "YORISOI_FAULT_INJECT": fault,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "server.app:create_app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            env=env, cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.request("GET", "/api/session")[0] == 401:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)

    def request(self, method: str, path: str, body: Any = None, cookie: str = "") -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Content-Type": "application/json"}
            if cookie:
                headers["Cookie"] = cookie
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            r = conn.getresponse()
            raw = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(raw) if raw else None
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


def count(db_factory: sessionmaker[Session], model: Any) -> int:
    with db_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "committed"), [("push_before_commit", False), ("push_after_commit", True)])
def test_killed_mid_push_then_retried_gives_one_effect(
    fault: str,
    committed: bool,
    factory: Factory,
    db_factory: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    servers: list[Server],
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    crashing = Server(database_url, tmp_path, fault)
    servers.append(crashing)
    status, headers, _ = crashing.request("POST", "/api/session", {"username": "w1", "password": PASSWORD})
    assert status == 200
    cookie = headers["set-cookie"].split(";", 1)[0]
    client_id = str(uuid.uuid4())
    body = {
        "client_id": client_id,
        "schema_version": 1,
        "mutations": [{"mid": 1, "name": "contact.create", "args": contact_args(case.id, outcome="MET_PERSON")}],
    }
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        crashing.request("POST", "/api/sync/push", body, cookie)  # the answer never comes
    assert crashing.proc.wait(10) == -signal.SIGKILL
    assert count(db_factory, Contact) == (1 if committed else 0)

    restarted = Server(database_url, tmp_path)
    servers.append(restarted)
    status, _, answer = restarted.request("POST", "/api/sync/push", body, cookie)  # the phone retries
    assert status == 200, answer
    assert answer["last_mid"] == 1
    assert answer["results"][0]["status"] == ("duplicate" if committed else "applied")
    status, _, again = restarted.request("POST", "/api/sync/push", body, cookie)
    assert again["results"][0]["status"] == "duplicate"
    assert count(db_factory, Contact) == 1
    assert count(db_factory, SyncMutation) == 1
    with db_factory() as s:
        assert s.get_one(Device, uuid.UUID(client_id)).last_mid == 1
