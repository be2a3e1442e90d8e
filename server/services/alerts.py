"""Alerts raised by events, outside the periodic stall rules.

`raise_urgent` is the hook the sync engine calls when a contact records an urgent outcome
(vocab.URGENT_OUTCOMES: 緊急対応, 死亡確認): rule "R", level "urgent", at most one live alert per case
and rule (the partial unique index `uq_alert_case_rule_live` holds the same line in the database).
Minimal on purpose: the alerts engine extends it (notification, escalation).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, Case, Contact
from server.vocab import AlertState

URGENT_RULE = "R"
URGENT_LEVEL = "urgent"


def raise_urgent(session: Session, case: Case, contact: Contact) -> Alert:
    """Open the case's urgent alert, or return the one already live. The caller holds the case row
    lock, so two urgent contacts on one case cannot both insert."""
    live = session.scalar(
        select(Alert).where(
            Alert.case_id == case.id, Alert.rule == URGENT_RULE, Alert.state != AlertState.RESOLVED
        )
    )
    if live is not None:
        return live
    alert = Alert(case_id=case.id, team_id=case.team_id, rule=URGENT_RULE, level=URGENT_LEVEL, state=AlertState.OPEN)
    session.add(alert)
    session.flush()
    return alert
