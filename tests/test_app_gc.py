"""While the app runs, the objects alive at its start-up are kept out of Python's cyclic garbage
collections and a young collection waits for 10,000 allocations (server/app.py `_collector_tuned`,
issue #9: a pull page's thousands of rows and changes set off collections that traversed the whole
process). An app that stops gives both back, for a process that goes on (the tests)."""

from __future__ import annotations

import gc
from typing import Any

from starlette.testclient import TestClient


def test_the_collector_is_tuned_while_the_app_runs_and_restored_after(app: Any) -> None:
    before_threshold, before_frozen = gc.get_threshold(), gc.get_freeze_count()
    with TestClient(app) as client:
        assert client.get("/app").status_code < 500
        assert gc.get_threshold()[0] >= 10_000
        assert gc.get_threshold()[1:] == before_threshold[1:]
        assert gc.get_freeze_count() > before_frozen  # the start-up heap: modules, the app, its engine
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == before_frozen
