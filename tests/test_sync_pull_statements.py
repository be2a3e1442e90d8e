"""The pulled cases' related rows are read by one array parameter on PostgreSQL (sync/serialize.py,
issue #9): a statement whose text does not grow with the page, so the driver's parsed-query cache
and SQLAlchemy's compiled form serve every page, instead of one placeholder per id — a new
statement text for each page size, parsed again each time."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event

from tests.factories import Factory
from tests.sync_support import Clients

RELATED = ("FROM household ", "FROM household_member ", "FROM care_relation ", "FROM person ", "FROM case_assignment ")



def _statements(app: Any) -> list[str]:
    seen: list[str] = []
    event.listen(app.state.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_pages_related_rows_are_read_with_one_parameter_each(factory: Factory, clients: Clients, app: Any) -> None:
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no array parameters: IN lists there")
    w1 = factory.user("w1")
    cases = [factory.case(workers=(w1,), family_name=f"山田{i}") for i in range(4)]
    assert len(cases) == 4
    seen = _statements(app)
    changes = clients.phone("w1").sync()
    assert sum(c["entity"] == "case" for c in changes) == 4
    related = [s for s in seen if any(name in s for name in RELATED)]
    assert len(related) >= 5  # household, members, relations, persons, assignments
    for statement in related:
        # one placeholder per id would read "%(id_1_1)s, %(id_1_2)s, …"
        assert not re.search(r"%\(\w+_\d+_2\)s", statement), statement
