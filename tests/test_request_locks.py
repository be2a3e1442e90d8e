"""Which requests take the two rows every writer queues on: the sync counter (`UPDATE sync_counter`,
server/models/sync_stamp.py) and the audit head (`SELECT … audit_head … FOR UPDATE`,
server/services/audit.py). Each is held from there to COMMIT, so every request that takes one
waits for the others that do. The commonest requests of a phone's day — the check-in and the
up-to-date pull every few minutes — write nothing another phone needs, and must take neither;
a pull that sends records audits them (the head), and a push takes both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.models import AuditEvent
from tests.factories import Factory
from tests.sync_support import Clients, Statements, contact_args


def test_check_in_and_up_to_date_pull_take_no_shared_lock(
    factory: Factory, clients: Clients, app: Any, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    factory.case(workers=(w,))
    phone = clients.phone("w1")
    phone.sync()  # the first pull sends the case: audited
    statements = Statements(app)
    assert phone.http.get("/api/session").status_code == 200
    assert statements.locks() == set()
    answer = phone.pull(outbox_depth=0)
    assert answer["changes"] == []
    assert statements.locks() == set()
    # A push that applies something takes both (its change number, its audit rows).
    answer = phone.push(phone.mutation("contact.create", contact_args(next(iter(phone.ids("case"))))))
    assert answer["results"][0]["status"] == "applied"
    assert statements.locks() == {"sync_counter", "audit_head"}
    # The installation was registered once: on PostgreSQL every push and pull used to audit it
    # again (the insert's rowcount read as "created"), taking the audit head each time.
    with db_factory() as s:
        registered = s.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "device.register")).all()
    assert registered == [str(phone.client_id)]
