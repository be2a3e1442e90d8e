"""The domain vocabularies of DOMAIN.md, by id. Labels live in the message catalogues (server/i18n)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    WORKER = "worker"
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


OFFICE_ROLES = frozenset({Role.COORDINATOR, Role.SUPERVISOR, Role.ADMIN})


class OrgKind(StrEnum):
    MUNICIPALITY = "municipality"
    SHAKYO = "shakyo"
    NPO = "npo"


class CaseStatus(StrEnum):
    OPEN = "open"
    WATCHING = "watching"
    CLOSED = "closed"


CATEGORIES = (
    "8050", "double_care", "hikikomori", "young_carer", "self_neglect",
    "poverty", "disability", "elderly_care", "other",
)

REFERRAL_SOURCES = (
    "chiiki_houkatsu", "minsei_iin", "school", "family", "neighbour",
    "shien_kaigi", "other_agency", "self",
)

CLOSED_REASONS = ("stable_handover", "moved", "deceased", "person_declined", "other")

CONTACT_METHODS = (
    "HOME_VISIT", "ACCOMPANIMENT", "PHONE", "LETTER", "DIGITAL_MESSAGE",
    "OFFICE_VISIT", "COMMUNITY_SETTING", "AGENCY_LIAISON", "MEETING",
)

COUNTERPARTS = ("PERSON", "FAMILY", "COMMUNITY", "AGENCY", "NONE")

# outcome id -> whom it reached: "person", "family" or "none"; declines are reached but negative.
OUTCOMES: dict[str, str] = {
    "MET_PERSON": "person",
    "SPOKE_THROUGH_DOOR": "person",
    "PERSON_HOME_NOT_MET": "family",
    "MET_FAMILY_ONLY": "family",
    "PHONE_PERSON": "person",
    "PHONE_FAMILY": "family",
    "PHONE_NO_ANSWER": "none",
    "NO_ANSWER": "none",
    "LEFT_LETTER": "none",
    "PERSON_REPLIED": "person",
    "DECLINED_BY_PERSON": "person",
    "DECLINED_BY_FAMILY": "family",
    "ABORTED_SAFETY": "none",
    "MOVED_OR_UNKNOWN": "none",
    "IN_HOSPITAL_OR_FACILITY": "none",
    "DECEASED": "none",
    "EMERGENCY_RESPONSE": "none",
}
NEGATIVE_OUTCOMES = frozenset({"DECLINED_BY_PERSON", "DECLINED_BY_FAMILY"})
URGENT_OUTCOMES = frozenset({"EMERGENCY_RESPONSE", "DECEASED"})

RECEPTIONS = ("WARM", "NEUTRAL", "GUARDED", "HOSTILE")

RISK_FLAGS = ("dog", "violence_history", "infection", "hoarding", "weapon", "substance", "other")

SHARING_BASES = ("CONSENT", "SHIEN_KAIGI_106_6", "INTERNAL_ONLY", "EMERGENCY")

CONSENT_FORMS = ("written", "oral")

# The default milestone ladder, in order; SETBACK is not a rung but an event that resets the climb.
MILESTONES = (
    "IDENTIFIED",
    "FAMILY_FIRST_CONTACT",
    "FAMILY_ENGAGED",
    "PERSON_AWARE",
    "PERSON_RESPONDED",
    "FIRST_VOICE_CONTACT",
    "FIRST_FACE_TO_FACE",
    "REGULAR_CONTACT",
    "PERSON_EXPRESSED_NEEDS",
    "CONSENT_GIVEN",
    "PLAN_AGREED",
    "ACCOMPANIED_OUTING",
    "CONNECTED",
    "STABLE_HANDOVER",
)
SETBACK = "SETBACK"
ALL_MILESTONES = (*MILESTONES, SETBACK)
MILESTONE_RANK = {m: i for i, m in enumerate(MILESTONES)}
FAMILY_ONLY_STAGES = frozenset({"IDENTIFIED", "FAMILY_FIRST_CONTACT", "FAMILY_ENGAGED"})

# Stall rules (DOMAIN.md §4) and alert levels.
ALERT_RULES = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "R", "DEVICE_UNSYNCED")
ALERT_LEVELS = ("caution", "warning", "meeting", "review", "urgent")


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
