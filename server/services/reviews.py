"""Coordinators' review comments on a case. The newest one's time is the case's last coordinator review
(stall rule S7), so writing one is also what "the case has been looked at" means."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import CaseReview
from server.permissions import Actor, Permission, get_case
from server.services import audit
from server.vocab import SHARING_BASES

MAX_BODY = 4000


def add_review(
    session: Session, actor: Actor, case_id: uuid.UUID, body: str, sharing_basis: str = "INTERNAL_ONLY"
) -> CaseReview:
    case = get_case(session, actor, case_id, Permission.CASE_REVIEW)
    body = body.strip()
    if not body or len(body) > MAX_BODY:
        raise ApiError(422, "invalid_request", field="body")
    if sharing_basis not in SHARING_BASES:
        raise ApiError(422, "invalid_request", field="sharing_basis")
    review = CaseReview(case_id=case.id, author_id=actor.user_id, body=body, sharing_basis=sharing_basis)
    session.add(review)
    session.flush()
    audit.record(
        session,
        actor,
        "review.create",
        entity="case_review",
        entity_id=review.id,
        case_id=case.id,
        fields=["body", "sharing_basis"],
    )
    return review
