"""Password hashing: argon2id at OWASP's parameters, and older, costlier hashes replaced at the
next sign-in (server/security/passwords.py). On the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
import time

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.app import cores, create_app
from server.models import User
from server.security import passwords
from server.settings import Settings
from tests.factories import PASSWORD, Factory


def test_password_hash_meets_owasp_argon2id() -> None:
    params = dict(kv.split("=") for kv in passwords.hash_password(PASSWORD).split("$")[3].split(","))
    m, t, p = int(params["m"]), int(params["t"]), int(params["p"])
    assert passwords.hash_password(PASSWORD).startswith("$argon2id$")
    # OWASP Password Storage Cheat Sheet: 46 MiB × 1 pass, or 19 MiB × 2 passes (or more of either).
    assert (m >= 46 * 1024 and t >= 1) or (m >= 19 * 1024 and t >= 2)
    assert p == 1  # one thread per check: the sign-in gate bounds the cores sign-ins take


def test_an_older_costlier_hash_is_replaced_at_sign_in(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    u = factory.user("kato")
    old = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4).hash(PASSWORD)
    with db_factory() as s, s.begin():
        s.get_one(User, u.id).password_hash = old
    assert client.post("/api/session", json={"username": "kato", "password": "wrong password"}).status_code == 401
    with db_factory() as s:
        assert s.scalar(select(User.password_hash).where(User.id == u.id)) == old  # unchanged
    assert client.post("/api/session", json={"username": "kato", "password": PASSWORD}).status_code == 200
    with db_factory() as s:
        new = s.scalar(select(User.password_hash).where(User.id == u.id))
    assert new != old and new is not None and not passwords.needs_rehash(new)
    assert passwords.verify_password(new, PASSWORD)


def test_checks_run_on_the_few_password_threads_whatever_thread_asks() -> None:
    """Each thread that hashes keeps its 19 MiB (glibc's per-thread arena): checks asked for by many
    request threads must run on the few password threads only."""
    stored = passwords.hash_password(PASSWORD)
    passwords.use_threads(3)
    try:
        results: list[bool] = []
        askers = [threading.Thread(target=lambda: results.append(passwords.verify_password(stored, PASSWORD)))
                  for _ in range(9)]  # fmt: skip
        for t in askers:
            t.start()
        for t in askers:
            t.join()
        assert results == [True] * 9
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the previous threads leave once idle
            hashing = [t for t in threading.enumerate() if t.name.startswith("argon2")]
            if len(hashing) <= 3:
                break
            time.sleep(0.05)
        assert 1 <= len(hashing) <= 3
    finally:
        passwords.use_threads(2)


def test_the_server_hashes_on_one_thread_per_core_at_most(settings: Settings) -> None:
    """Sign-in places may outnumber the cores (they also cover a sign-in's queries); hashing threads
    never do: a check keeps one core busy, and each thread that hashed keeps 19 MiB."""
    try:
        create_app(dataclasses.replace(settings, max_concurrent_sign_ins=cores() + 3))
        assert passwords._threads_size == cores()
        create_app(dataclasses.replace(settings, max_concurrent_sign_ins=1))
        assert passwords._threads_size == 1
    finally:
        passwords.use_threads(2)
