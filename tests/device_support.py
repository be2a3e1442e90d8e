"""Helpers for the device tests: a phone's HTTP client signed in *on a device*, as the field app is."""

from __future__ import annotations

import io
import sys
import uuid
from typing import Any

import pytest
from starlette.testclient import TestClient

from server.cli import main
from tests.factories import PASSWORD


class DeviceClient:
    """A TestClient whose session belongs to one installation, naming it in every API request."""

    def __init__(self, app: Any, device_id: uuid.UUID | None = None) -> None:
        self.device_id = device_id or uuid.uuid4()
        self.http = TestClient(app)
        self.http.headers["X-Yorisoi-Device"] = str(self.device_id)

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        return self.http.post(
            "/api/session", json={"username": username, "password": password, "device_id": str(self.device_id)}
        )

    def pull(self, **params: Any) -> Any:
        return self.http.get("/api/sync/pull", params={"client_id": str(self.device_id), **params})

    def push(self, mutations: list[dict[str, Any]]) -> Any:
        body = {"client_id": str(self.device_id), "schema_version": 1, "mutations": mutations}
        return self.http.post("/api/sync/push", json=body)

    def close(self) -> None:
        self.http.close()


def run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    return main(argv)
