"""A real server for the live figures (load, browser): `python -m server serve` — uvicorn, one
process, as deployed — in a child process bound to 127.0.0.1 on a free port, against the bench's
generated database.

The child never outlives the bench: it is stopped when the `serve` block ends (normally, on an
exception, or on SIGTERM, which `python -m bench` turns into SystemExit), and the kernel sends it
SIGTERM should the bench itself die without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"  # loopback only: the load never leaves this machine
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _proc_status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """The process and its children (uvicorn's worker processes when YORISOI_WORKERS > 1)."""
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text(encoding="ascii").split()]
    except (OSError, ValueError):
        pass
    return pids


@dataclass(frozen=True)
class Served:
    url: str
    pid: int
    log: Path

    def rss_mib(self) -> float:
        """The server's resident memory now (its processes added up)."""
        return sum(_proc_status_kib(p, "VmRSS") for p in process_tree(self.pid)) / 1024

    def peak_rss_mib(self) -> float:
        """The highest resident memory the server has had since it started (VmHWM; with several
        processes, their peaks added up)."""
        return sum(_proc_status_kib(p, "VmHWM") for p in process_tree(self.pid)) / 1024

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a child politely, then for certain."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not listen within {timeout:.0f} s")


@contextmanager
def serve(database_url: str, data_dir: Path, start_timeout: float = 60) -> Iterator[Served]:
    """`yorisoi serve` on a free loopback port against `database_url`; stopped on leaving."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "YORISOI_DATABASE_URL": database_url,
        "YORISOI_BASE_URL": f"http://{HOST}:{port}",
        "YORISOI_DATA_DIR": str(data_dir),
        "YORISOI_ALERT_INTERVAL_MINUTES": "0",  # the stall runner would compete with the measured load
        "YORISOI_LOG_LEVEL": "WARNING",
    }
    log = data_dir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", HOST, "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    try:
        _wait_listening(proc, port, start_timeout)
        yield Served(url=f"http://{HOST}:{port}", pid=proc.pid, log=log)
    finally:
        if proc.poll() is None:
            stop(proc)
