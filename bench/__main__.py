"""`make bench`: generate a synthetic municipality on SQLite and on PostgreSQL, measure each figure
beside its floor, print them and write bench/results.json (docs/performance.md explains them).

    .venv/bin/python -m bench                    # default size, both databases (< 10 min)
    .venv/bin/python -m bench --scale 10         # 10× the cases, contacts and milestones
    .venv/bin/python -m bench --quick --db sqlite --out /tmp/r.json   # the smoke test's size
    .venv/bin/python -m bench --db postgres --only load browser peer  # the live figures only

PostgreSQL: a fresh database is created through YORISOI_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test) and dropped at the end. Never run as a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from bench import figures, live_figures
from bench.databases import temporary_url, versions
from bench.generate import QUICK, Size, populate
from bench.measure import Figure, ServerClock
from server import migrate
from server.app import create_app
from server.db import make_engine
from server.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results.json"


# A real server, Chromium, pouchdb-server: once per run, on its last database (bench/live_figures.py).
LIVE = {"load": live_figures.load_step, "browser": live_figures.browser_step, "peer": live_figures.peer_step}
STEPS = {"pull": figures.pull_figures, "pages": figures.page_figures, "stall": figures.stall_figures,
         "push": figures.push_figures, **LIVE}  # fmt: skip


def run_on(kind: str, size: Size, runs: int, only: list[str]) -> tuple[list[Figure], dict[str, Any]]:
    """Every figure on one kind of database (a throw-away one)."""
    with temporary_url(kind) as url, tempfile.TemporaryDirectory(prefix="yorisoi-bench-data-") as data:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            pop = populate(engine, size)
            info = {"database": versions(engine), "rows": pop.counts, "generate_seconds": round(pop.seconds, 1),
                    "worker_cases": len(pop.worker_case_ids)}  # fmt: skip
            print(f"{info['database']}: generated {sum(pop.counts.values())} rows in {pop.seconds:.1f} s")
            settings = Settings(data_dir=Path(data), database_url=url, base_url="http://testserver",
                                alert_interval_minutes=0)  # fmt: skip
            clock = ServerClock(create_app(settings))
            with TestClient(clock) as worker, TestClient(clock) as supervisor:
                figures.sign_in(worker, pop, pop.worker)
                figures.sign_in(supervisor, pop, pop.supervisor)
                b = figures.Bench(engine, pop, clock, worker, supervisor, runs, kind)
                out: list[Figure] = []
                for step in (STEPS[name] for name in only):
                    t0 = time.perf_counter()
                    found = step(b)
                    for f in found:
                        print("  " + f.line())
                    print(f"  ({step.__name__} took {time.perf_counter() - t0:.1f} s)")
                    out.extend(found)
            return out, info
        finally:
            engine.dispose()


# How fast this machine runs plain Python: the seconds of a 10-million-step empty loop, the best of
# three. The machines these benches run on differ by up to 4× from hour to hour (docs/performance.md,
# "Results"), and the absolute targets with them. A hint for comparing runs, not a scale: the
# same-run floors are the comparison.
YARDSTICK_STEPS = 10_000_000


def yardstick() -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(YARDSTICK_STEPS):
            pass
        best = min(best, time.perf_counter() - t0)
    return round(best, 3)


def machine() -> dict[str, Any]:
    mem = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            mem = f.readline().split(":")[1].strip()
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python_loop_seconds": yardstick(),
            "platform": platform.platform(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Yorisoi's benchmarks")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply cases, contacts and milestones")
    parser.add_argument("--quick", action="store_true", help="a tiny municipality (the smoke test)")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--runs", type=int, default=0, help="repetitions per figure (default 5, quick 1)")
    parser.add_argument("--only", nargs="+", choices=list(STEPS), default=None,
                        help="some figures only (default all; --quick leaves out load, browser, peer)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results JSON")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else Size.of(args.scale)
    runs = args.runs or (1 if args.quick else 5)
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    meta: dict[str, Any] = {"machine": machine(), "size": size.__dict__, "runs": runs, "databases": {}}
    print(f"{size} · {runs} runs per figure · {meta['machine']}")
    only = args.only or [s for s in STEPS if not (args.quick and s in LIVE)]
    all_figures: list[Figure] = []
    for kind in kinds:
        steps = [s for s in only if s not in LIVE or kind == kinds[-1]]
        if not steps:
            continue
        found, info = run_on(kind, size, runs, steps)
        all_figures.extend(found)
        info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]  # other work on the machine skews
        info["python_loop_seconds_after"] = yardstick()  # the speed can change within a run
        print(f"  (after {kind}: python loop {info['python_loop_seconds_after']} s, load {info['load_average_after']})")
        meta["databases"][kind] = info
    document = {"figures": [f.as_dict() for f in all_figures], "meta": meta}
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    missed = [f.name for f in all_figures if f.misses]
    print(f"wrote {args.out}; {len(missed)} figure(s) miss their target: {', '.join(missed) or '—'}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)  # a stopped run still drops its PostgreSQL database
    sys.exit(main())
