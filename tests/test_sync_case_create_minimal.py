"""A worker's new case with nothing but a name (no address yet) is applied, not rejected."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.factories import Factory, login
from tests.sync_support import Phone, case_create_args


def test_case_create_without_household_is_applied(client: TestClient, factory: Factory) -> None:
    factory.user("w1")
    login(client, "w1")
    phone = Phone(client)
    result = phone.do("case.create", case_create_args())
    assert result["status"] == "applied", result
    phone.sync()
    assert len(phone.ids("case")) == 1
