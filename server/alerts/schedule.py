"""When a push may go out: quiet hours (Japan time) and the optional daily digest.

Urgent pushes (rule R) ignore both. Everything else waits until the quiet hours end, or, when a
digest time is set, until the next digest, where the pending pushes of a subscription collapse
into one (see push/queue.py).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from server.i18n.dates import TOKYO

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time(value: str, setting: str) -> dt.time:
    match = _HHMM.match(value.strip())
    if match is None:
        raise ValueError(f"{setting}: expected HH:MM (24-hour, Japan time)")
    return dt.time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class QuietHours:
    """A daily window in Japan time; `start > end` means it spans midnight (20:00-08:00)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, value: str) -> QuietHours | None:
        """`"20:00-08:00"`, or empty for none. Raises ValueError naming the setting when malformed."""
        if not value.strip():
            return None
        parts = value.split("-")
        if len(parts) != 2:
            raise ValueError("YORISOI_QUIET_HOURS: expected HH:MM-HH:MM, e.g. 20:00-08:00")
        start = parse_time(parts[0], "YORISOI_QUIET_HOURS")
        end = parse_time(parts[1], "YORISOI_QUIET_HOURS")
        if start == end:
            return None  # an empty window
        return cls(start, end)

    def contains(self, when: dt.datetime) -> bool:
        local = when.astimezone(TOKYO).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, when: dt.datetime) -> dt.datetime:
        """The first moment at or after `when` outside the window (UTC)."""
        if not self.contains(when):
            return when
        local = when.astimezone(TOKYO)
        end = dt.datetime.combine(local.date(), self.end, tzinfo=TOKYO)
        if end <= local:
            end += dt.timedelta(days=1)
        return end.astimezone(dt.UTC)


def next_daily(when: dt.datetime, at: dt.time) -> dt.datetime:
    """The next moment (at or after `when`) that is `at` o'clock in Japan, in UTC."""
    local = when.astimezone(TOKYO)
    target = dt.datetime.combine(local.date(), at, tzinfo=TOKYO)
    if target < local:
        target += dt.timedelta(days=1)
    return target.astimezone(dt.UTC)


@dataclass(frozen=True)
class PushSchedule:
    quiet: QuietHours | None
    digest_at: dt.time | None

    @classmethod
    def from_settings(cls, quiet_hours: str, digest_at: str) -> PushSchedule:
        digest = parse_time(digest_at, "YORISOI_PUSH_DIGEST_AT") if digest_at.strip() else None
        return cls(QuietHours.parse(quiet_hours), digest)

    def send_at(self, now: dt.datetime, *, urgent: bool) -> dt.datetime:
        """When a push raised at `now` may be sent."""
        if urgent:
            return now
        if self.digest_at is not None:
            return next_daily(now, self.digest_at)
        if self.quiet is not None:
            return self.quiet.end_after(now)
        return now

    @property
    def digest(self) -> bool:
        return self.digest_at is not None
