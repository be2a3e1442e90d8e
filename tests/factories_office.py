"""More test data for the office pages: milestones, amendments, alerts, consents, households, reviews,
conflicts and devices. Each call commits, like tests/factories.py."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from server.kana import kana_key
from server.models import (
    Alert,
    CareRelation,
    Case,
    CaseConflict,
    CaseReview,
    Consent,
    Contact,
    Device,
    HouseholdMember,
    MilestoneEvent,
    Person,
    User,
)
from server.vocab import OUTCOMES


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    """A Tokyo wall-clock time as the UTC datetime the database stores."""
    return dt.datetime(y, m, d, hh, mm, tzinfo=dt.timezone(dt.timedelta(hours=9))).astimezone(dt.UTC)


class OfficeFactory:
    def __init__(self, db_factory: sessionmaker[Session]) -> None:
        self.db = db_factory

    def _add(self, obj: Any) -> Any:
        with self.db() as s, s.begin():
            s.add(obj)
        return obj

    def milestone(self, case: Case, by: User, milestone: str, on: dt.date, **kw: Any) -> MilestoneEvent:
        return self._add(  # type: ignore[no-any-return]
            MilestoneEvent(
                id=kw.pop("id", uuid.uuid4()), case_id=case.id, milestone=milestone, reached_on=on,
                recorded_by=by.id, **kw,
            )
        )

    def amendment(self, original: Contact, by: User, outcome: str, **kw: Any) -> Contact:
        return self._add(  # type: ignore[no-any-return]
            Contact(
                id=uuid.uuid4(),
                case_id=original.case_id,
                amends_id=original.id,
                occurred_at=kw.pop("occurred_at", original.occurred_at),
                method=kw.pop("method", original.method),
                counterpart=kw.pop("counterpart", original.counterpart),
                outcome=outcome,
                reached=OUTCOMES[outcome],
                recorded_by=by.id,
                **kw,
            )
        )

    def alert(self, case: Case, rule: str = "S2", level: str = "warning", **kw: Any) -> Alert:
        return self._add(Alert(case_id=case.id, team_id=case.team_id, rule=rule, level=level, **kw))  # type: ignore[no-any-return]

    def member(self, case: Case, family_name: str, given_name: str, relationship: str, **kw: Any) -> Person:
        kana = kw.pop("kana", ("", ""))
        with self.db() as s, s.begin():
            p = Person(family_name=family_name, given_name=given_name, family_name_kana=kana[0],
                       given_name_kana=kana[1], kana_key=kana_key(*kana), **kw)
            s.add(p)
            s.flush()
            assert case.household_id is not None
            s.add(HouseholdMember(household_id=case.household_id, person_id=p.id, relationship=relationship))
            return p

    def subject_member(self, case: Case, relationship: str = "本人") -> None:
        assert case.household_id is not None
        self._add(HouseholdMember(household_id=case.household_id, person_id=case.person_id, relationship=relationship))

    def care(self, carer: uuid.UUID, cared: uuid.UUID, kind: str = "介護") -> CareRelation:
        return self._add(CareRelation(carer_id=carer, cared_id=cared, kind=kind))  # type: ignore[no-any-return]

    def consent(self, case: Case, by: User, **kw: Any) -> Consent:
        return self._add(  # type: ignore[no-any-return]
            Consent(
                id=uuid.uuid4(), case_id=case.id, person_id=kw.pop("person_id", case.person_id),
                scope=kw.pop("scope", ["地域包括支援センター"]), form=kw.pop("form", "written"),
                given_on=kw.pop("given_on", dt.date(2025, 6, 1)), recorded_by=by.id, **kw,
            )
        )

    def review(self, case: Case, by: User, body: str, **kw: Any) -> CaseReview:
        return self._add(CaseReview(case_id=case.id, author_id=by.id, body=body, **kw))  # type: ignore[no-any-return]

    def conflict(self, case: Case, by: User, field: str, server: Any, client: Any) -> CaseConflict:
        return self._add(  # type: ignore[no-any-return]
            CaseConflict(
                case_id=case.id, field=field, base_version=1, server_value={"value": server},
                client_value={"value": client}, user_id=by.id,
            )
        )

    def device(self, user: User, last_sync_at: dt.datetime | None, **kw: Any) -> Device:
        return self._add(Device(id=uuid.uuid4(), user_id=user.id, last_sync_at=last_sync_at, **kw))  # type: ignore[no-any-return]
