"""What a push says. Built when it is sent, so the count is current and a push about alerts that have
all been acknowledged meanwhile is not sent at all.

Privacy (DOMAIN.md §6): a lock screen is public. A payload carries a kind, a count, a link and the
two fixed catalogue strings — never a name, an address, a case id or any note:

    {"v": 1, "kind": "alerts", "count": 3, "url": "/alerts", "tag": "alerts",
     "title": "寄り添い", "body": "確認が必要なケースがあります（3件）"}

`url` is `/alerts/<alert id>` when exactly one alert is counted (a random id says nothing about the
person), `/alerts` otherwise, and `/app/` for the "please sync" push to a worker.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from server import i18n
from server.alerts.audience import DEVICE_RULE, URGENT_RULE, responsible
from server.models import Alert, Team, User
from server.vocab import AlertState

KINDS = ("urgent", "alerts", "sync")
TTL_SECONDS = {"urgent": 24 * 3600, "alerts": 24 * 3600, "sync": 24 * 3600}
URGENCY = {"urgent": "high", "alerts": "normal", "sync": "normal"}
BODY_KEY = {"urgent": "push.body_urgent", "alerts": "push.body", "sync": "push.body_sync"}


def content(session: Session, user_id: uuid.UUID, kind: str) -> dict[str, Any] | None:
    """The payload for this user now, or None when there is nothing (left) to say."""
    row = session.execute(
        select(User.role, User.team_id, User.language, User.is_active, Team.municipality_id)
        .join(Team, Team.id == User.team_id)
        .where(User.id == user_id)
    ).one_or_none()
    if row is None or not row.is_active:
        return None
    cond = and_(Alert.state == AlertState.OPEN, responsible(row.role, user_id, row.team_id, row.municipality_id))
    if kind == "urgent":
        cond = and_(cond, Alert.rule == URGENT_RULE)
    elif kind == "sync":
        cond = and_(cond, Alert.rule == DEVICE_RULE, Alert.subject_user_id == user_id)
    count = session.scalar(select(func.count()).select_from(Alert).where(cond)) or 0
    if count == 0:
        return None
    if kind == "sync":
        url = "/app/"
    elif count == 1:
        url = f"/alerts/{session.scalar(select(Alert.id).where(cond))}"
    else:
        url = "/alerts"
    lang = row.language
    return {
        "v": 1,
        "kind": kind,
        "count": count,
        "url": url,
        "tag": kind,
        "title": i18n.t(lang, "push.title"),
        "body": i18n.t(lang, BODY_KEY[kind], count=count),
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
