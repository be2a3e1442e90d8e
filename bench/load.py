"""The morning burst: 300 simulated phones sync against a real server (`bench.live`: uvicorn in its own
process) and the bench's generated PostgreSQL database, as the field app does at 8:30.

What one phone does is what the field app does after a night (js/access.js, js/sync.js). The app
opens locked and, having signal, checks in once (`GET /api/session`: a revoked phone would be told
to wipe itself). Its session has expired (8 hours idle; the PIN unlock is local and renews
nothing), so the check-in answers 401, and so does the first sync after the worker's PIN unlock
(`POST /api/sync/push` with the outbox, counted as `expired`: the app then asks for an online
sign-in). The worker signs in (`POST /api/session` with the installation's `device_id`; workers
need no second factor; the bench types the password at once, a person takes seconds), then the
app pushes the contacts recorded offline since the last sync (`POST /api/sync/push`, 3
`contact.create`) and pulls from the cursor it kept from yesterday (`GET /api/sync/pull`,
following `has_more`). With `--signed-in` the session outlived the night: the check-in answers 200
and the sync runs at once. Left out: the push subscription's renewal after a sign-in
(`GET /api/push/key`, only where notifications are on).

Between yesterday's pull and this morning every worker pushed a few more contacts from another
device ("the evening", applied in-process), so each incremental pull brings real changes: the
phone's colleagues' contacts and the cases they moved.

The generated municipality has 40 workers (`bench.generate`), so phone i signs in as worker
i mod 40: ≈ 7 installations per worker, each its own device row. Yesterday's state is built
directly: the devices exist (as registered yesterday) and each cursor is the one a complete pull
would have ended on at that moment (epoch, the committed change number, the reference digest).

Loopback only (bench.live.HOST); every request has a timeout and the whole burst stops after
HARD_TIMEOUT seconds, counting whatever did not finish as errors.

    .venv/bin/python -m bench --db postgres --only load       # as in `make bench`
    .venv/bin/python -m bench.load --phones 100 --ramp 60     # the burst alone, other shapes
    .venv/bin/python -m bench.load --signed-in                # sessions outlived the night: no sign-in
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
import random
import ssl
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.generate import Population
from bench.live import Served, process_tree
from bench.measure import Figure
from server.models import Device, User, UserSession
from server.models.sync import SyncVisibility
from server.services.auth import actor_for, start_session
from server.settings import Settings
from sync import reference
from sync.cursor import Cursor, committed_seq, current_epoch, end_of
from sync.envelope import parse_push
from sync.push import push

PHONES = 300
MUTATIONS = 3  # contacts each phone recorded offline since its last sync
EVENING_CONTACTS = 5  # each worker's push yesterday evening, after the phones' last pull
CONCURRENCY = 60  # phones talking to the server at once (the client's bound)
RAMP_SECONDS = 30.0  # the phones start within this window (seeded, uniform)
REQUEST_TIMEOUT = 30.0
HARD_TIMEOUT = 120.0  # the burst stops by itself by then (300 sign-ins are ≈ 70 CPU-s of argon2 alone)
PULL_LIMIT = 500  # as js/sync.js
MAX_PAGES = 100
JST = dt.timezone(dt.timedelta(hours=9))
NOTE = "玄関先で短く話しました。次回は午後に訪問します。"
SESSION_COOKIE = "yorisoi_session"  # server.views.base.session_cookie_name over http


@dataclass
class Phone:
    username: str
    client_id: uuid.UUID
    cursor: str
    cases: list[uuid.UUID]
    session: str = ""  # yesterday's session cookie
    alive: bool = False  # it outlived the night (`sign_in=False`); else it has idled out


@dataclass
class Sample:
    kind: str  # checkin | expired | signin | push | pull
    ms: float
    ok: bool
    detail: str = ""


@dataclass
class Burst:
    samples: list[Sample] = field(default_factory=list)
    unfinished: int = 0
    seconds: float = 0.0
    changes_pulled: list[int] = field(default_factory=list)
    pull_bytes: list[int] = field(default_factory=list)


def _contact(case_id: uuid.UUID, when: dt.datetime, rng: random.Random) -> dict[str, Any]:
    met = rng.random() < 0.6
    return {
        "id": str(uuid.uuid4()), "case_id": str(case_id), "occurred_at": when.astimezone(JST).isoformat(),
        "method": "HOME_VISIT", "counterpart": "PERSON" if met else "NONE",
        "outcome": "MET_PERSON" if met else "NO_ANSWER", "duration_min": 20, "notes": NOTE,
    }  # fmt: skip


def _push_body(client_id: uuid.UUID, cases: list[uuid.UUID], count: int, rng: random.Random) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    mutations = []
    for n in range(count):
        when = now - dt.timedelta(hours=16, minutes=10 * n)
        mutations.append({"mid": n + 1, "name": "contact.create", "client_time": when.isoformat(),
                          "args": _contact(rng.choice(cases), when, rng)})  # fmt: skip
    return {"client_id": str(client_id), "schema_version": 1, "outbox_depth": count, "mutations": mutations}


def yesterday(engine: Engine, phones: int, rng: random.Random, sessions: bool = False) -> list[Phone]:
    """The installations as they were after yesterday's last sync: registered devices, and the
    cursor a complete pull would have ended on (taken now, before the evening's changes), and the
    session cookie it kept: last used yesterday evening, so idled out by now, or with `sessions`
    still alive (as if sessions outlived the night)."""
    made: list[Phone] = []
    with Session(engine) as s:
        workers = list(s.scalars(select(User).where(User.role == "worker").order_by(User.username)))
        epoch, high = current_epoch(s), committed_seq(s)
        cursors, scopes = {}, {}
        for u in workers:
            ref = reference.digest(reference.build(s, actor_for(s, u)))
            cursors[u.id] = Cursor(epoch=epoch, position=end_of(high), floor=high, ref=ref).encode()
            visible = select(SyncVisibility.case_id).where(SyncVisibility.user_id == u.id, SyncVisibility.visible)
            scopes[u.id] = sorted(s.scalars(visible))
        rows = []
        for i in range(phones):
            u = workers[i % len(workers)]
            client_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            made.append(Phone(u.username, client_id, cursors[u.id], scopes[u.id]))
            yesterday_evening = dt.datetime.now(dt.UTC) - dt.timedelta(hours=15)
            rows.append({"id": client_id, "user_id": u.id, "label": "", "last_mid": 0, "outbox_depth": 0,
                         "created_at": yesterday_evening - dt.timedelta(days=30),
                         "last_pull_at": yesterday_evening, "last_sync_at": yesterday_evening})  # fmt: skip
        s.execute(insert(Device), rows)
        users = {u.username: u for u in workers}
        for p in made:
            signed = start_session(s, Settings(), users[p.username], "127.0.0.1", p.client_id)
            p.session, p.alive = signed.token, sessions
            if not sessions:
                s.flush()
                s.execute(update(UserSession).where(UserSession.id == signed.actor.session_id)
                          .values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=15)))  # fmt: skip
        s.commit()
    return made


async def _call(client: httpx.AsyncClient, out: list[Sample], kind: str, method: str, path: str,
                expect: int = 200, **kw: Any) -> httpx.Response | None:  # fmt: skip
    """The answer when it was the one expected (`expect`), else None (the sample says why)."""
    t0 = time.perf_counter()
    try:
        r = await client.request(method, path, **kw)
    except (httpx.HTTPError, OSError) as exc:
        out.append(Sample(kind, (time.perf_counter() - t0) * 1000, False, type(exc).__name__))
        return None
    ms = (time.perf_counter() - t0) * 1000
    ok = r.status_code == expect
    if ok and kind == "push" and expect == 200:
        ok = all(x.get("status") == "applied" for x in r.json().get("results", [])) and bool(r.json().get("results"))
    out.append(Sample(kind, ms, ok, "" if ok else f"{r.status_code} {r.text[:80]}"))
    return r if ok else None


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every simulated phone. The server is plain HTTP on loopback and no phone
    uses it, but each `AsyncClient` built its own by default: loading the CA store took ≈ 35 ms of
    the event loop per phone (≈ 10 of the load generator's 13 CPU-seconds in a burst), on the
    cores the server was being measured on, while other phones' answers waited to be read."""
    return ssl.create_default_context()


def _client(url: str, client_id: uuid.UUID) -> httpx.AsyncClient:
    headers = {"Accept": "application/json", "X-Yorisoi-Device": str(client_id)}
    return httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT, headers=headers, verify=_tls())


async def _sign_in(c: httpx.AsyncClient, out: list[Sample], username: str, password: str,
                   client_id: uuid.UUID) -> bool:  # fmt: skip
    body = {"username": username, "password": password, "device_id": str(client_id)}
    return await _call(c, out, "signin", "POST", "/api/session", json=body) is not None


async def _phone(p: Phone, url: str, password: str, delay: float, sem: asyncio.Semaphore, b: Burst,
                 rng: random.Random) -> None:  # fmt: skip
    await asyncio.sleep(delay)
    async with sem, _client(url, p.client_id) as c:
        body = _push_body(p.client_id, p.cases, MUTATIONS, rng)
        c.cookies.set(SESSION_COOKIE, p.session)
        if await _call(c, b.samples, "checkin", "GET", "/api/session", expect=200 if p.alive else 401) is None:
            return
        if not p.alive:
            if await _call(c, b.samples, "expired", "POST", "/api/sync/push", expect=401, json=body) is None:
                return
            if not await _sign_in(c, b.samples, p.username, password, p.client_id):
                return
        if await _call(c, b.samples, "push", "POST", "/api/sync/push", json=body) is None:
            return
        cursor, changes, size = p.cursor, 0, 0
        for _ in range(MAX_PAGES):
            params = {"client_id": str(p.client_id), "limit": PULL_LIMIT, "outbox_depth": 0, "cursor": cursor}
            r = await _call(c, b.samples, "pull", "GET", "/api/sync/pull", params=params)
            if r is None:
                return
            answer = r.json()
            changes, size, cursor = changes + len(answer["changes"]), size + len(r.content), answer["cursor"]
            if answer["reset"]:
                b.samples.append(Sample("pull", 0, False, "reset: yesterday's cursor was not accepted"))
                return
            if not answer["has_more"]:
                break
        b.changes_pulled.append(changes)
        b.pull_bytes.append(size)


def evening(engine: Engine, phones: list[Phone], rng: random.Random) -> int:
    """After the phones' last pull, each worker pushed a few contacts from another device: applied
    in-process (sync.push, as the server would; no sign-in needed for the setup). Mutations applied."""
    applied = 0
    with Session(engine) as s:
        for username, cases in {p.username: p.cases for p in phones}.items():
            user = s.scalars(select(User).where(User.username == username)).one()
            body = _push_body(uuid.uuid4(), cases, EVENING_CONTACTS, rng)
            answer = push(s, actor_for(s, user), parse_push(body))
            s.commit()
            applied += sum(r["status"] == "applied" for r in answer["results"])
    return applied


async def morning(url: str, password: str, phones: list[Phone], ramp: float, rng: random.Random) -> Burst:
    b = Burst()
    sem = asyncio.Semaphore(CONCURRENCY)
    delays = sorted(rng.uniform(0, ramp) for _ in phones)
    tasks = [asyncio.create_task(_phone(p, url, password, d, sem, b, random.Random(rng.random())))
             for p, d in zip(phones, delays, strict=True)]  # fmt: skip
    t0 = time.perf_counter()
    done, pending = await asyncio.wait(tasks, timeout=HARD_TIMEOUT)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    b.seconds = time.perf_counter() - t0
    b.unfinished = len(pending) + sum(1 for t in done if t.exception() is not None)
    return b


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, its children (uvicorn's workers) added."""
    ticks = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def _database_cpu(engine: Engine) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench's database (same machine;
    none for SQLite, which runs inside the server)."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.connect() as c:
        pids = c.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
    return {pid: _cpu_seconds(pid) for pid in pids}


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def load_figures(engine: Engine, pop: Population, served: Served, phones: int = PHONES, ramp: float = RAMP_SECONDS,
                 sign_in: bool = True, seed: int = 9) -> list[Figure]:  # fmt: skip
    rng = random.Random(seed)
    fleet = yesterday(engine, phones, rng, sessions=not sign_in)
    applied = evening(engine, fleet, rng)
    if applied != len({p.username for p in fleet}) * EVENING_CONTACTS:
        raise RuntimeError(f"the evening's pushes: only {applied} mutations applied")
    rss_before = served.rss_mib()
    # CPU time around the burst: the server's (all its threads), the database backends' (those
    # that were connected at the end; a connection the pool closed during the burst is missed, so
    # a lower bound) and the load generator's own (this process), to tell work from waiting on a
    # machine that other processes share.
    server_cpu, db_cpu, client_cpu = _cpu_seconds(served.pid), _database_cpu(engine), time.process_time()
    b = asyncio.run(morning(served.url, pop.password, fleet, ramp, rng))
    server_cpu, client_cpu = _cpu_seconds(served.pid) - server_cpu, time.process_time() - client_cpu
    db_cpu_used = sum(cpu - db_cpu.get(pid, 0.0) for pid, cpu in _database_cpu(engine).items())
    # Latencies of every answered or failed request (a failure's time counts too, as a phone waited
    # for it); phones that never got to send are counted as errors only.
    sent = [s for s in b.samples if s.ms > 0]
    ok = [s.ms for s in b.samples if s.ok]
    errors = [s for s in b.samples if not s.ok]
    for s in errors[:5]:
        print(f"  error: {s.kind} {s.detail}")
    if errors:
        print(served.log_tail(10))
    kinds = {k: [s.ms for s in sent if s.kind == k] for k in ("checkin", "expired", "signin", "push", "pull")}
    changes, size = statistics.median(b.changes_pulled or [0]), statistics.median(b.pull_bytes or [0])
    print(f"  morning: {phones} phones over {ramp:g} s, ≤ {CONCURRENCY} at once: {len(b.samples)} requests "
          f"in {b.seconds:.1f} s; {len(errors)} errors, {b.unfinished} phones unfinished; pulled {changes:g} "
          f"changes, {size / 1024:.1f} KiB per phone (median); server RSS {rss_before:.0f} MiB before")  # fmt: skip
    answered = max(len(sent), 1)
    print(f"  CPU during the burst: server {server_cpu:.1f} s ({server_cpu * 1000 / answered:.1f} ms a request), "
          f"PostgreSQL ≥ {db_cpu_used:.1f} s, load generator {client_cpu:.1f} s; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    return [
        Figure.against("load_p50", _p([s.ms for s in sent], 0.5), "ms", None, None),
        Figure.against("load_p95", _p([s.ms for s in sent], 0.95), "ms", 300, None),
        Figure.against("load_errors", len(errors) + b.unfinished, "req", 0, None),
        Figure.against("load_throughput", len(ok) / b.seconds if b.seconds else 0, "req/s", None, None),
        *(Figure.against(f"load_{k}_p95", _p(v, 0.95), "ms", None, None) for k, v in kinds.items()),
        # The same burst's p95 with the sign-ins' own latencies left out (the other requests still
        # shared the server with them): how much of the tail the sign-ins are.
        Figure.against(
            "load_p95_without_signin", _p([s.ms for s in sent if s.kind != "signin"], 0.95), "ms", None, None
        ),
        Figure.against("load_server_cpu_per_request", server_cpu * 1000 / answered, "ms", None, None),
        Figure.against("load_server_peak_rss", served.peak_rss_mib(), "MiB", None, None),
    ]


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.load`: the burst alone, with its knobs (the default database size)."""
    import argparse
    import tempfile
    from pathlib import Path

    from bench.databases import temporary_url
    from bench.generate import Size, populate
    from bench.live import serve
    from server import migrate
    from server.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m bench.load", description=main.__doc__)
    parser.add_argument("--phones", type=int, default=PHONES)
    parser.add_argument("--ramp", type=float, default=RAMP_SECONDS, help="seconds over which the phones start")
    parser.add_argument("--signed-in", action="store_true", help="sessions outlived the night: no sign-in")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    with temporary_url("postgres") as url, tempfile.TemporaryDirectory(prefix="yorisoi-bench-live-") as data:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            pop = populate(engine, Size.of(args.scale))
            with serve(url, Path(data)) as served:
                for f in load_figures(engine, pop, served, args.phones, args.ramp, not args.signed_in):
                    print("  " + f.line())
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))  # the database is dropped
    sys.exit(main())
