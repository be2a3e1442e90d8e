"""Dates for people: 和暦 or western, Asia/Tokyo local time, and 年度 (fiscal years, April–March).

和暦 output matches the browser's
`Intl.DateTimeFormat('ja-JP-u-ca-japanese', {era: 'long', year: 'numeric', month: 'long', day: 'numeric'})`
(ICU), so server pages and the PWA agree: 「令和7年4月1日」, and the first year of an era is 「元年」.
Dates before 明治 (1868-10-23, the day ICU starts it) are shown in western form; ICU would name older
eras, which nobody in this domain needs.

English uses day-month-year with the month spelled out ("1 April 2025"), like `en-GB`: it cannot be
misread as month/day, which matters for dates of visits.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


class Era(NamedTuple):
    name: str
    start: dt.date


# Newest first. Start dates as ICU has them (the day each era began in the Gregorian calendar).
ERAS = (
    Era("令和", dt.date(2019, 5, 1)),
    Era("平成", dt.date(1989, 1, 8)),
    Era("昭和", dt.date(1926, 12, 25)),
    Era("大正", dt.date(1912, 7, 30)),
    Era("明治", dt.date(1868, 10, 23)),
)

_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def _era_of(d: dt.date) -> str | None:
    """「令和7」 or 「令和元」 for a date (year 1 starts on the era's first day); None before 明治."""
    for era in ERAS:
        if d >= era.start:
            year = d.year - era.start.year + 1
            return f"{era.name}{'元' if year == 1 else year}"
    return None


def format_date(d: dt.date, lang: str, era: bool) -> str:
    """「令和7年4月1日」 (era), 「2025年4月1日」 (ja) or "1 April 2025" (en)."""
    if lang == "en":
        return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"
    year = (_era_of(d) if era else None) or str(d.year)
    return f"{year}年{d.month}月{d.day}日"


def to_tokyo(value: dt.datetime) -> dt.datetime:
    """Local Tokyo time. A naive datetime is taken as UTC, which is how the database stores time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(TOKYO)


def format_datetime(value: dt.datetime, lang: str, era: bool) -> str:
    """The Tokyo-local date as `format_date` plus the time as HH:MM (24-hour)."""
    local = to_tokyo(value)
    return f"{format_date(local.date(), lang, era)} {local:%H:%M}"


def fiscal_year(d: dt.date) -> int:
    """年度: the calendar year in which the April–March fiscal year starts."""
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_range(fy: int) -> tuple[dt.date, dt.date]:
    """First and last day (both inclusive): 2025 -> 2025-04-01 … 2026-03-31."""
    return dt.date(fy, 4, 1), dt.date(fy + 1, 3, 31)


def quarter_range(fy: int, q: int) -> tuple[dt.date, dt.date]:
    """Quarter q (1-4) of fiscal year fy, both days inclusive: Q1 is April–June, Q4 January–March."""
    if q not in (1, 2, 3, 4):
        raise ValueError("quarter must be 1, 2, 3 or 4")
    return _month_start(fy, 3 * q), _month_start(fy, 3 * q + 3) - dt.timedelta(days=1)


def _month_start(fy: int, offset: int) -> dt.date:
    """The first day of the month `offset` months after January of year fy (offset 3 = April)."""
    return dt.date(fy + offset // 12, offset % 12 + 1, 1)


def fiscal_year_label(fy: int, lang: str, era: bool) -> str:
    """「令和7年度」 (era), 「2025年度」 (ja) or "FY2025" (en, always western).

    A fiscal year takes the era that was in force by the end of its calendar year, as city reports do
    (2019年度 is 「令和元年度」, 1988年度 is 「昭和63年度」, 1989年度 is 「平成元年度」).
    """
    if lang == "en":
        return f"FY{fy}"
    if era:
        return f"{_era_of(dt.date(fy, 12, 31)) or fy}年度"
    return f"{fy}年度"
