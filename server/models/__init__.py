"""All models, imported here so alembic and the app see one metadata."""

from server.models.alert import Alert, JobLease, PushDelivery, PushSubscription
from server.models.audit import AuditEvent
from server.models.case import Case, CaseAssignment, CaseConflict, CaseReview
from server.models.contact import Contact
from server.models.derived import CaseContactFacts, CaseMilestoneFacts, DerivedWatermark
from server.models.milestone import Consent, MilestoneEvent
from server.models.org import Organisation, Team
from server.models.person import CareRelation, Household, HouseholdMember, Person
from server.models.report import ContactMonth, TeamMonth
from server.models.sync import Device, ServerState, SyncCounter, SyncMutation
from server.models.user import LoginThrottle, RecoveryCode, User, UserSession

__all__ = [
    "Alert",
    "AuditEvent",
    "CareRelation",
    "Case",
    "CaseAssignment",
    "CaseConflict",
    "CaseContactFacts",
    "CaseMilestoneFacts",
    "CaseReview",
    "Consent",
    "Contact",
    "ContactMonth",
    "DerivedWatermark",
    "Device",
    "Household",
    "HouseholdMember",
    "JobLease",
    "LoginThrottle",
    "MilestoneEvent",
    "Organisation",
    "Person",
    "PushDelivery",
    "PushSubscription",
    "RecoveryCode",
    "ServerState",
    "SyncCounter",
    "SyncMutation",
    "Team",
    "TeamMonth",
    "User",
    "UserSession",
]
