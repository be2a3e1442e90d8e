"""Stall-rule thresholds: DOMAIN.md §4's defaults, overridden per team by `Team.stall_thresholds`.

Overrides are plain JSON edited by admins, so they are validated twice: `validate` refuses a bad
edit with the offending key, and `for_team` ignores anything that slipped through (a bad stored
value must never stop the evaluation of every other team).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from server.errors import ApiError

log = logging.getLogger("yorisoi.alerts")

# Each value is a number of days, except s3_attempts (a count of attempts).
DEFAULTS: dict[str, int] = {
    "s1_grace_days": 7,  # S1: next planned action due date + 7 days with no contact
    "s2_caution_days": 30,  # S2: days since the person or the family was last reached
    "s2_warning_days": 60,
    "s2_meeting_days": 90,
    "s3_attempts": 4,  # S3: consecutive attempts that reached nobody (or were declined)
    "s4_days": 180,  # S4: no new milestone
    "s5_days": 180,  # S5: family-only stage for more than this
    "s7_review_days": 90,  # S7: no coordinator review
    "unsynced_days": 3,  # a worker's phone silent for more than this holds the case alerts back
    "escalate_days": 7,  # an alert unacknowledged this long goes to the supervisor too
}

LIMITS: dict[str, tuple[int, int]] = dict.fromkeys(DEFAULTS, (1, 3650)) | {"s3_attempts": (2, 100)}


@dataclass(frozen=True)
class Thresholds:
    s1_grace_days: int = DEFAULTS["s1_grace_days"]
    s2_caution_days: int = DEFAULTS["s2_caution_days"]
    s2_warning_days: int = DEFAULTS["s2_warning_days"]
    s2_meeting_days: int = DEFAULTS["s2_meeting_days"]
    s3_attempts: int = DEFAULTS["s3_attempts"]
    s4_days: int = DEFAULTS["s4_days"]
    s5_days: int = DEFAULTS["s5_days"]
    s7_review_days: int = DEFAULTS["s7_review_days"]
    unsynced_days: int = DEFAULTS["unsynced_days"]
    escalate_days: int = DEFAULTS["escalate_days"]


def _check(key: str, value: Any) -> int:
    if key not in DEFAULTS:
        raise ApiError(422, "invalid_request", field=key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, "invalid_request", field=key)
    low, high = LIMITS[key]
    if not low <= value <= high:
        raise ApiError(422, "invalid_request", field=key)
    return value


def validate(overrides: Mapping[str, Any]) -> dict[str, int]:
    """A team's overrides, checked: known keys, whole numbers in range, and the S2 steps in order.
    Raises `ApiError(422, field=<key>)` on the first problem."""
    checked = {key: _check(key, value) for key, value in overrides.items()}
    merged = Thresholds(**checked)
    if not merged.s2_caution_days < merged.s2_warning_days < merged.s2_meeting_days:
        raise ApiError(422, "invalid_request", field="s2_warning_days")
    return checked


def for_team(overrides: Mapping[str, Any] | None) -> Thresholds:
    """The effective thresholds of a team; invalid stored overrides fall back to the defaults."""
    if not overrides:
        return Thresholds()
    try:
        return Thresholds(**validate(overrides))
    except ApiError:
        # Neither keys nor values are logged: both are admin input.
        log.warning("ignoring invalid stall thresholds of a team; using the defaults")
        return Thresholds()


FIELD_NAMES = tuple(f.name for f in fields(Thresholds))
