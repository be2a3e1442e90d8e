"""The figures that need a real server or a browser (`--only load browser peer`), as steps of
`python -m bench`: each gets the run's generated database (bench.figures.Bench). They run once per
run, on its last database (PostgreSQL by default); the load only on PostgreSQL, as the issue asks.
`--quick` leaves them out unless named with `--only`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import browser, load, peer
from bench.figures import Bench
from bench.live import serve
from bench.measure import Figure


def _url(b: Bench) -> str:
    return b.engine.url.render_as_string(hide_password=False)


def load_step(b: Bench) -> list[Figure]:
    if b.db != "postgres":
        print("  (load: measured on PostgreSQL only; run with --db postgres or both)")
        return []
    with tempfile.TemporaryDirectory(prefix="yorisoi-bench-live-") as data, serve(_url(b), Path(data)) as served:
        return load.load_figures(b.engine, b.pop, served)


def browser_step(b: Bench) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="yorisoi-bench-live-") as data, serve(_url(b), Path(data)) as served:
        return browser.browser_figures(served, b.pop, b.runs)


def peer_step(b: Bench) -> list[Figure]:
    return peer.peer_figures(b.worker)
