"""The benchmark harness still runs: `python -m bench --quick` on SQLite at a tiny size writes a
results file of the documented shape and names. Timings are never asserted here (bench/ prints
them; docs/performance.md records them)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import RESULTS, main

KEYS = {"name", "value", "unit", "target", "floor", "ratio", "ratio_target"}
NAMES = {
    "pull_initial_sqlite",
    "pull_initial_bytes_sqlite",
    "pull_initial_gzip_bytes_sqlite",
    "pull_initial_peak_memory_sqlite",
    "pull_empty_sqlite",
    "pull_empty_bytes_sqlite",
    "push_500_sqlite",
    "stall_eval_first_sqlite",
    "stall_eval_sqlite",
    "stall_eval_peak_memory_sqlite",
    "timeline_page_sqlite",
    "dashboard_sqlite",
}


def test_quick_benchmark_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    assert out != RESULTS
    assert main(["--quick", "--db", "sqlite", "--runs", "1", "--out", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    figures = document["figures"]
    # Every run records how fast the machine ran plain Python, so runs on different days compare.
    assert document["meta"]["machine"]["python_loop_seconds"] > 0
    assert document["meta"]["databases"]["sqlite"]["python_loop_seconds_after"] > 0
    assert {f["name"] for f in figures} == NAMES
    for f in figures:
        assert set(f) == KEYS, f["name"]
        assert isinstance(f["value"], int | float) and f["value"] >= 0, f["name"]
        assert isinstance(f["unit"], str) and f["unit"], f["name"]
        if f["floor"] is not None:
            assert f["ratio"] is not None, f["name"]
    ratios = {f["name"] for f in figures if f["ratio_target"] is not None}
    assert ratios == {"pull_initial_sqlite", "push_500_sqlite"}
