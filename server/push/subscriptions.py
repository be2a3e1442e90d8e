"""Storing browsers' push subscriptions (the JSON of a PushSubscription).

The endpoint must be on an allowed origin (see origins.py: the server must not be made to post to
internal addresses), and the keys must be a real P-256 point and a 16-byte auth secret, so a bad
subscription fails here, with a clear field, rather than at every send. A browser re-registers each
time the app opens: the same endpoint updates its row (and moves to whoever is signed in now).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import PushSubscription
from server.permissions import Actor
from server.push.origins import is_allowed
from server.services import audit

MAX_ENDPOINT = 2048
MAX_PER_USER = 10


def _b64url(value: Any, field: str) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ApiError(422, "invalid_request", field=field)
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ApiError(422, "invalid_request", field=field) from exc


def _checked(data: dict[str, Any], allowed_origins: tuple[str, ...]) -> tuple[str, str, str]:
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise ApiError(422, "invalid_request", field="endpoint")
    if not is_allowed(endpoint, allowed_origins):
        raise ApiError(422, "push_endpoint_not_allowed", field="endpoint")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise ApiError(422, "invalid_request", field="keys")
    p256dh = _b64url(keys.get("p256dh"), "keys.p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", field="keys.p256dh") from exc
    if len(p256dh) != 65:
        raise ApiError(422, "invalid_request", field="keys.p256dh")
    if len(_b64url(keys.get("auth"), "keys.auth")) != 16:
        raise ApiError(422, "invalid_request", field="keys.auth")
    return endpoint, str(keys["p256dh"]).rstrip("="), str(keys["auth"]).rstrip("=")


def subscribe(
    session: Session, actor: Actor, data: dict[str, Any], allowed_origins: tuple[str, ...]
) -> PushSubscription:
    endpoint, p256dh, auth = _checked(data, allowed_origins)
    sub = session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint).with_for_update())
    if sub is None:
        sub = PushSubscription(
            user_id=actor.user_id, device_id=actor.device_id, endpoint=endpoint, p256dh=p256dh, auth=auth
        )
        session.add(sub)
    else:
        sub.user_id, sub.device_id, sub.p256dh, sub.auth = actor.user_id, actor.device_id, p256dh, auth
    session.flush()
    # A user with many stale browsers: keep the newest few.
    ids = list(
        session.scalars(
            select(PushSubscription.id)
            .where(PushSubscription.user_id == actor.user_id)
            .order_by(PushSubscription.created_at.desc(), PushSubscription.id)
            .offset(MAX_PER_USER)
        )
    )
    if ids:
        session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))
    audit.record(session, actor, "push.subscribe", entity="push_subscription", entity_id=sub.id)
    return sub


def unsubscribe(session: Session, actor: Actor, endpoint: Any) -> bool:
    if not isinstance(endpoint, str) or not endpoint:
        raise ApiError(422, "invalid_request", field="endpoint")
    sub = session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint, PushSubscription.user_id == actor.user_id)
    )
    if sub is None:
        return False
    session.delete(sub)
    audit.record(session, actor, "push.unsubscribe", entity="push_subscription", entity_id=sub.id)
    return True
