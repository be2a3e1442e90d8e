"""`yorisoi serve` with YORISOI_WORKERS=2: two worker processes answer on one port, and each logs
as the single-process server does (the access log, without query strings). On the real database
(SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
from sqlalchemy.engine import Engine

from bench.live import free_port


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            httpx.get(url + "/api/session", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text(encoding="ascii").split()]
    return out


def test_two_worker_processes_serve_and_log(database_url: str, engine: Engine, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "YORISOI_DATABASE_URL": database_url,
        "YORISOI_BASE_URL": url,
        "YORISOI_DATA_DIR": str(tmp_path / "data"),
        "YORISOI_ALERT_INTERVAL_MINUTES": "0",
        "YORISOI_WORKERS": "2",
        "YORISOI_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        _wait(url, proc)
        # uvicorn spawns each worker as a fresh interpreter (multiprocessing's spawn_main).
        workers = [p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        answers = [httpx.get(url + "/api/session?q=canary-name", timeout=10) for _ in range(6)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert len(workers) == 2
    assert {r.status_code for r in answers} == {401}
    assert all(r.json()["error"]["code"] == "unauthenticated" for r in answers)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert text.count("INFO yorisoi.access GET /api/session 401") >= 6
    assert "canary-name" not in text
    assert " ERROR " not in text and "Traceback" not in text
