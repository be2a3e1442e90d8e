"""CSRF, security headers and the sign-in page."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.factories import PASSWORD, Factory, login, totp_code


def test_cross_site_unsafe_request_is_refused(client: TestClient, factory: Factory) -> None:
    factory.user("kato")
    login(client, "kato")
    r = client.delete("/api/session", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"
    r = client.delete("/api/session", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert client.get("/api/session").status_code == 200  # still signed in
    r = client.delete("/api/session", headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"})
    assert r.status_code == 204


def test_same_origin_by_origin_header_when_fetch_metadata_is_missing(client: TestClient, factory: Factory) -> None:
    factory.user("kato")
    r = client.post(
        "/api/session", json={"username": "kato", "password": PASSWORD}, headers={"Origin": "http://testserver"}
    )
    assert r.status_code == 200


@pytest.mark.parametrize("path", ["/login", "/api/session", "/api/nothing", "/static/office.css"])
def test_security_headers_everywhere(client: TestClient, path: str) -> None:
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in r.headers  # plain http here


def test_personal_data_responses_are_not_cached(client: TestClient, factory: Factory) -> None:
    factory.user("kato")
    login(client, "kato")
    assert client.get("/api/session").headers["cache-control"] == "no-store"


def test_https_deployment_uses_host_prefixed_secure_cookie_and_hsts(factory: Factory, settings) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from server.app import create_app

    factory.user("kato")
    app = create_app(replace(settings, base_url="https://testserver"))
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/session", json={"username": "kato", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-yorisoi=") and "Secure" in cookie and "Path=/" in cookie
        assert "max-age=" in r.headers["strict-transport-security"]


def test_sign_in_page(client: TestClient, factory: Factory) -> None:
    factory.user("coord", role="coordinator")
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "ユーザー名" in page.text and "パスワード" in page.text and "ログイン" in page.text
    assert "<script>" not in page.text
    bad = client.post("/login", data={"username": "coord", "password": "nope nope", "next": "/"})
    assert bad.status_code == 401
    assert "正しくありません" in bad.text
    assert "確認コード" in page.text
    ok = client.post(
        "/login",
        data={"username": "coord", "password": PASSWORD, "totp": totp_code("coord"), "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert client.get("/").status_code == 200


def test_pages_send_signed_out_visitors_to_sign_in(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/")


def test_user_text_is_escaped_on_the_sign_in_page(client: TestClient) -> None:
    r = client.post("/login", data={"username": "<script>alert(1)</script>", "password": "whatever1"})
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;" in r.text


def test_unhandled_error_is_json_500_with_headers_and_no_details(app, caplog) -> None:  # type: ignore[no-untyped-def]
    from starlette.routing import Route

    def boom(request):  # type: ignore[no-untyped-def]
        raise ValueError("山田太郎 090-1234-5678")  # a message that quotes personal data

    app.router.routes.append(Route("/boom", boom))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "山田" not in r.text and "山田" not in caplog.text
    assert "ValueError" in caplog.text  # the type is logged, the message is not
