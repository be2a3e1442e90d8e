"""What every admin settings page (the milestone ladder, the stall thresholds) must refuse, checked
the same way for each: the other roles get neither the page nor its form, and an admin's form posted
from another site is refused. Each test then checks that nothing was stored, as only it knows how."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.factories import Factory, login

NOT_ADMINS = ("worker", "coordinator", "supervisor")


def assert_admins_only(
    client: TestClient, factory: Factory, role: str, page: str, action: str, data: dict[str, str]
) -> None:
    """Signed in with `role` (not an admin): 403 for the page (GET) and for its form (POST to `action`)."""
    factory.user("u1", role=role)
    login(client, "u1")
    assert client.get(page).status_code == 403
    assert client.post(action, data=data).status_code == 403


def assert_cross_site_refused(admin: TestClient, action: str, data: dict[str, str]) -> None:
    """The form, posted by a signed-in admin but from another site, is refused (403)."""
    r = admin.post(action, data=data, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
