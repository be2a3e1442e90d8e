"""While the app runs, and while a `yorisoi` command runs, the objects alive at its start are kept
out of Python's cyclic garbage collections and a young collection waits for 10,000 allocations
(server/collector.py, issue #9: a pull page's thousands of rows and changes, a first stall
evaluation's 42,000 alerts, set off collections that traversed the whole process). An app or a
command that ends gives both back, for a process that goes on (the tests)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.cli import main
from tests.factories import Factory


def test_the_collector_is_tuned_while_the_app_runs_and_restored_after(app: Any) -> None:
    before_threshold, before_frozen = gc.get_threshold(), gc.get_freeze_count()
    with TestClient(app) as client:
        assert client.get("/app").status_code < 500
        assert gc.get_threshold()[0] >= 10_000
        assert gc.get_threshold()[1:] == before_threshold[1:]
        assert gc.get_freeze_count() > before_frozen  # the start-up heap: modules, the app, its engine
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == before_frozen


def test_a_command_runs_with_the_collector_tuned_and_restores_it(
    monkeypatch: pytest.MonkeyPatch, database_url: str, factory: Factory, tmp_path: Path
) -> None:
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    factory.case(workers=(factory.user("w1"),))
    before_threshold, before_frozen = gc.get_threshold(), gc.get_freeze_count()
    young: list[int] = []  # the young threshold at each collection while the start-up heap is frozen

    def seen(phase: str, _info: dict[str, int]) -> None:
        if phase == "start" and gc.get_freeze_count() > before_frozen:
            young.append(gc.get_threshold()[0])

    gc.set_threshold(700, *before_threshold[1:])  # the default, whatever an earlier test left
    gc.callbacks.append(seen)
    try:
        assert main(["check-stalled", "--dry-run", "--no-push"]) == 0
    finally:
        gc.callbacks.remove(seen)
        restored = gc.get_threshold()
        gc.set_threshold(*before_threshold)
    assert young and min(young) >= 10_000  # the evaluation allocates far more than 10,000 objects
    assert restored == (700, *before_threshold[1:])
    assert gc.get_freeze_count() == before_frozen
