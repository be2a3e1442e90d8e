"""An initial pull whose history is numbered after the scope flips, as real phones see it.

The generator numbers every row before the worker's scope flip, so `pull_initial` takes the flip
path of `sync/stream.py` (part 1). Real caseloads grow after their flip (part 2, `_changed`). This
pulls the worker's scope once as generated, then pushes `--pushes` batches of 500 contacts to the
worker's cases (numbered after the flip) and pulls the whole scope again from nothing.

    .venv/bin/python -m bench.after_flip --db sqlite [--pushes 30] [--quick]

Prints, per chain: pages, changes, server time (in the app) and this process's CPU time (the app's
Python and, on SQLite, the database; PostgreSQL's own CPU is not in it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from bench import figures
from bench.databases import temporary_url
from bench.generate import QUICK, Size, populate
from bench.measure import ServerClock
from server import migrate
from server.app import create_app
from server.db import make_engine
from server.settings import Settings


def _chain(b: figures.Bench) -> dict[str, Any]:
    b.clock.reset()
    cpu = time.process_time()
    size, changes, pages = figures._initial_sync(b)
    return {"pages": pages, "changes": changes, "kib": round(size / 1024), "server_ms": round(b.clock.ms),
            "cpu_ms": round((time.process_time() - cpu) * 1000)}  # fmt: skip


def _push(b: figures.Bench, batches: int) -> None:
    cases = b.pop.worker_case_ids
    for k in range(batches):
        now = dt.datetime.now(dt.UTC)
        body = {"client_id": str(uuid.uuid4()), "schema_version": 1, "mutations": [
            {"mid": n + 1, "name": "contact.create", "client_time": now.isoformat(),
             "args": figures._contact_args(cases[(k * figures.PUSH_BATCH + n) % len(cases)],
                                           now - dt.timedelta(minutes=10 + n), n)}
            for n in range(figures.PUSH_BATCH)]}  # fmt: skip
        r = b.worker.post("/api/sync/push", json=body)
        if r.status_code != 200 or any(x["status"] != "applied" for x in r.json()["results"]):
            raise RuntimeError(f"push answered {r.status_code}")


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that the temporary database is dropped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="python -m bench.after_flip")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pushes", type=int, default=30, help="batches of 500 contacts after the flip")
    parser.add_argument("--quick", action="store_true", help="a tiny municipality")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else Size.of(1.0)
    with temporary_url(args.db) as url, tempfile.TemporaryDirectory(prefix="yorisoi-bench-data-") as data:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            pop = populate(engine, size)
            settings = Settings(data_dir=Path(data), database_url=url, base_url="http://testserver",
                                alert_interval_minutes=0)  # fmt: skip
            clock = ServerClock(create_app(settings))
            with TestClient(clock) as worker:
                figures.sign_in(worker, pop, pop.worker)
                b = figures.Bench(engine, pop, clock, worker, worker, 1, args.db)
                print(f"{args.db}: before the pushes (history before the flip):", _chain(b))
                _push(b, args.pushes)
                print(f"{args.db}: after {args.pushes} pushes of {figures.PUSH_BATCH}:", _chain(b))
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
