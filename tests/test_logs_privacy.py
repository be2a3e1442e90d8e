"""No personal data in log lines: the real server process, searched with a canary name."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

CANARY = "カナリアタロウ"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_app_logs_paths_but_never_query_strings(
    database_url: str, db_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "YORISOI_DATABASE_URL": database_url,
        "YORISOI_DATA_DIR": str(tmp_path),
        "YORISOI_BASE_URL": f"http://127.0.0.1:{port}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        q = urllib.parse.quote(CANARY)
        for path in (f"/cases?q={q}", f"/login?next=/cases%3Fq%3D{q}", f"/api/nothing?name={q}"):
            with contextlib.suppress(OSError):  # 4xx answers raise; only the log matters here
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "GET /cases" in out  # the access log is there …
    assert CANARY not in out and q not in out  # … without the query string
