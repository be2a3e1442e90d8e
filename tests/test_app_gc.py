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
from sqlalchemy import event
from sqlalchemy.engine import Engine
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
    seen: list[tuple[int, bool]] = []  # at each statement the command runs: young threshold, heap frozen

    def statement(*_args: Any) -> None:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count() > before_frozen))

    gc.set_threshold(700, *before_threshold[1:])  # the default, whatever an earlier test left
    event.listen(Engine, "before_cursor_execute", statement)
    try:
        assert main(["check-stalled", "--dry-run", "--no-push"]) == 0
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        restored = gc.get_threshold()
        gc.set_threshold(*before_threshold)
    assert seen and all(young >= 10_000 and frozen for young, frozen in seen)
    assert restored == (700, *before_threshold[1:])
    assert gc.get_freeze_count() == before_frozen
