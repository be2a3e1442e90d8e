"""An up-to-date pull answers without comparing the scope or building the reference data when the
change counter has not moved (sync/pull.py). That is only right if everything a pull shows takes a
change number: these changes move no synced row, and each must still reach the phone."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.models import AuditEvent, Device, SyncCounter, Team, User
from server.services import devices
from sync import clients as clients_module
from sync import reference
from tests.conftest import PG_URL
from tests.factories import Factory
from tests.sync_support import Clients, Phone, Statements, contact_args


def counter(db_factory: sessionmaker[Session]) -> int:
    with db_factory() as s:
        return int(s.scalars(select(SyncCounter.seq)).one())


def edit_user(db_factory: sessionmaker[Session], username: str, **values: Any) -> None:
    with db_factory() as s, s.begin():
        user = s.scalars(select(User).where(User.username == username)).one()
        for name, value in values.items():
            setattr(user, name, value)


def test_up_to_date_pull_answers_the_same_cursor_and_keeps_the_books(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    cursor = phone.cursor
    with db_factory() as s:
        reads = s.scalars(select(AuditEvent.seq).where(AuditEvent.action == "sync.pull")).all()
    answer = phone.pull(outbox_depth=4)
    assert answer["changes"] == [] and answer["cursor"] == cursor and answer["reset"] is False
    with db_factory() as s:
        assert s.get_one(Device, phone.client_id).outbox_depth == 4  # the office's "not synced yet"
        assert s.scalars(select(AuditEvent.seq).where(AuditEvent.action == "sync.pull")).all() == reads


def test_renamed_member_reaches_an_up_to_date_phone(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w1, w2 = factory.user("w1"), factory.user("w2", team="南部班", display_name="高橋")
    factory.case(workers=(w1, w2))
    phone = clients.phone("w1")
    phone.sync()
    assert phone.pull()["changes"] == []
    edit_user(db_factory, "w2", display_name="高橋（産休明け）")
    changes = phone.pull()["changes"]
    assert [c["entity"] for c in changes] == ["reference"]
    names = {m["id"]: m["display_name"] for m in phone.store[("reference", "reference")]["members"]}
    assert names[str(w2.id)] == "高橋（産休明け）"


def test_a_password_or_language_change_moves_nothing(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    factory.user("w1")
    phone = clients.phone("w1")
    phone.sync()
    before = counter(db_factory)
    edit_user(db_factory, "w1", language="en", era_dates=False)
    assert counter(db_factory) == before  # phones are not sent to look for changes that no pull shows
    assert phone.pull()["changes"] == []


def test_coordinator_moved_to_another_team_gets_its_cases(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    factory.user("c1", role="coordinator", team="北部班")
    north, south = factory.case(team="北部班"), factory.case(team="南部班")
    phone = clients.phone("c1")
    phone.sync()
    assert phone.ids("case") == {str(north.id)}
    with db_factory() as s, s.begin():  # no case changes: only the coordinator's team does
        team = s.scalars(select(Team).where(Team.name == "南部班")).one()
        s.scalars(select(User).where(User.username == "c1")).one().team_id = team.id
    phone.sync()
    assert phone.ids("case") == {str(south.id)}


def test_rename_between_the_pages_of_a_chain_arrives_by_its_end(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w1, w2 = factory.user("w1"), factory.user("w2")
    for _ in range(3):
        factory.case(workers=(w1, w2))
    phone = clients.phone("w1")
    first = phone.pull(limit=1)  # records the scope: this transaction's own change number
    assert first["has_more"] and entities_of(first) == {"reference", "case"}
    assert entities_of(phone.pull(limit=1)) == {"case"}  # the reference as of that number
    edit_user(db_factory, "w2", display_name="二宮")
    phone.sync(limit=1)
    names = {m["id"]: m["display_name"] for m in phone.store[("reference", "reference")]["members"]}
    assert names[str(w2.id)] == "二宮" and len(phone.ids("case")) == 3


def test_a_new_server_version_resends_the_reference(factory: Factory, clients: Clients) -> None:
    """Labels change with a release, not with a change number: a cursor whose reference digest was
    made by another version (here, forged as such) gets the reference again."""
    factory.user("w1")
    phone = clients.phone("w1")
    phone.sync()
    head, _, ref = phone.cursor.rpartition(".")
    assert reference.static_current(ref)
    phone.cursor = f"{head}.{'0' * reference.STATIC_TAG}{ref[reference.STATIC_TAG:]}"
    answer = phone.pull()
    assert [c["entity"] for c in answer["changes"]] == ["reference"]
    assert "reached" in json.dumps(answer["changes"][0]["data"]["vocab"])
    assert phone.pull()["changes"] == []


def entities_of(answer: dict[str, Any]) -> set[str]:
    return {c["entity"] for c in answer["changes"]}


def pulled_at(db_factory: sessionmaker[Session], phone: Phone) -> tuple[Any, Any]:
    with db_factory() as s:
        device = s.get_one(Device, phone.client_id)
        return device.last_pull_at, device.last_sync_at


def age_books(db_factory: sessionmaker[Session], phone: Phone, by: dt.timedelta) -> None:
    with db_factory() as s, s.begin():
        device = s.get_one(Device, phone.client_id)
        assert device.last_pull_at is not None and device.last_sync_at is not None
        device.last_pull_at -= by
        device.last_sync_at -= by


def test_up_to_date_pull_with_recent_books_writes_and_locks_nothing(
    factory: Factory, clients: Clients, app: Any, db_factory: sessionmaker[Session]
) -> None:
    """The app pulls every minute while open, and nearly every pull is up to date: it reads the
    session, the device and the counter, and — while the device's last pull time is recent and its
    outbox depth unchanged — writes nothing, takes no row lock, and so commits without a WAL flush
    (sync/clients.py `pull_note_due`). The books stay true to `PULL_NOTE_INTERVAL`."""
    w = factory.user("w1")
    factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.http.headers[devices.HEADER] = str(phone.client_id)  # as the app does: the revoked check too
    phone.sync()
    phone.pull(outbox_depth=0)
    before = pulled_at(db_factory, phone)
    statements = Statements(app)
    assert phone.pull(outbox_depth=0)["changes"] == []
    assert statements.writes() == []
    assert pulled_at(db_factory, phone) == before
    # A changed outbox depth is written at once (the office's "not synced yet").
    assert phone.pull(outbox_depth=2)["changes"] == []
    assert [s.split(" set ")[0] for s in statements.writes()] == ["update device"]
    with db_factory() as s:
        assert s.get_one(Device, phone.client_id).outbox_depth == 2
    # Books older than the interval are brought up to date, by an UPDATE that takes the only lock.
    age_books(db_factory, phone, clients_module.PULL_NOTE_INTERVAL)
    aged = pulled_at(db_factory, phone)
    assert phone.pull(outbox_depth=2)["changes"] == []
    assert [s.split(" set ")[0] for s in statements.writes()] == ["update device"]
    last_pull, last_sync = pulled_at(db_factory, phone)
    assert last_pull > aged[0] and last_sync > aged[1] and last_pull == last_sync


def test_a_silent_phone_that_pulls_again_resolves_its_alert_the_same_day(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """端末が未同期 counts days from `last_sync_at`: a phone whose books are days old records its
    first up-to-date pull at once."""
    w = factory.user("w1")
    factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    age_books(db_factory, phone, dt.timedelta(days=10))
    assert phone.pull()["changes"] == []
    last_pull, _ = pulled_at(db_factory, phone)
    assert dt.datetime.now(dt.UTC) - last_pull < dt.timedelta(minutes=1)


def test_a_pull_that_sends_changes_locks_the_device_first(factory: Factory, clients: Clients, app: Any) -> None:
    """Lock order (sync/PROTOCOL.md §6): a pull that may write more than its books locks the device
    row before any other row, as a push does."""
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()
    other = clients.phone("w1")
    assert other.do("contact.create", contact_args(case.id, outcome="MET_PERSON"))["status"] == "applied"
    statements = Statements(app)
    assert [c["entity"] for c in phone.pull()["changes"]] == ["case", "contact"]
    seen = list(statements.seen)
    # On either engine the device is claimed (read alone, after the unlocked peek that reads it with
    # the epoch and the counter) before anything is written.
    claim = next(i for i, s in enumerate(seen) if s.startswith("select device.") and "epoch" not in s)
    first_write = next(i for i, s in enumerate(seen) if s.startswith(("insert", "update", "delete")))
    assert claim < first_write, seen
    writes = statements.writes()
    if PG_URL:  # and on PostgreSQL that read is the row lock (SQLite has none: one writer at a time)
        assert writes[0].startswith("select device.") and writes[0].endswith("for no key update"), writes
