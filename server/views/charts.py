"""Server-rendered SVG charts: geometry computed here, drawn by the macros in templates/_charts.html.

No script and no inline style (the CSP allows neither): shapes carry SVG attributes and classes styled
by office.css. Categories are told apart by pattern and shape as well as colour, and every chart also
comes with its figures as a table.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from server.i18n import dates
from server.services.progress import stage_of
from server.vocab import MILESTONES, SETBACK

Label = Callable[[str], str]


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    y: float
    width: float
    text_x: float


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    row: int
    max_value: int


def bar_chart(items: Sequence[tuple[str, int]], width: int = 560, label_width: int = 210, row: int = 26) -> BarChart:
    """Horizontal bars, one row per item, scaled to the largest value."""
    top = max([v for _l, v in items] + [1])
    area = width - label_width - 48
    bars = []
    for i, (label, value) in enumerate(items):
        w = area * value / top
        bars.append(Bar(label, value, i * row + 4, w, label_width + w + 6))
    return BarChart(bars, width, max(len(items), 1) * row + 8, label_width, row, top)


@dataclass(frozen=True)
class Segment:
    kind: str  # person | family | none
    y: float
    height: float
    value: int


@dataclass(frozen=True)
class Column:
    label: str
    x: float
    width: float
    total: int
    segments: list[Segment]


@dataclass(frozen=True)
class ColumnChart:
    columns: list[Column]
    width: int
    height: int
    base: float
    max_value: int
    kinds: tuple[str, ...]


def stacked_columns(
    items: Sequence[tuple[str, dict[str, int]]],
    kinds: tuple[str, ...] = ("person", "family", "none"),
    width: int = 640,
    height: int = 220,
) -> ColumnChart:
    """One column per item (e.g. a month), its parts stacked bottom-up in `kinds` order."""
    top = max([sum(v.values()) for _l, v in items] + [1])
    base = height - 24.0
    plot = base - 10
    slot = (width - 40) / max(len(items), 1)
    columns = []
    for i, (label, values) in enumerate(items):
        y = base
        segments = []
        for kind in kinds:
            value = values.get(kind, 0)
            h = plot * value / top
            y -= h
            segments.append(Segment(kind, y, h, value))
        columns.append(Column(label, 40 + i * slot + slot * 0.15, slot * 0.7, sum(values.values()), segments))
    return ColumnChart(columns, width, height, base, top, kinds)


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    setback: bool
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Rung:
    y: float
    label: str


@dataclass
class LadderChart:
    width: int
    height: int
    left: int
    right: float
    top: int
    bottom: float
    rungs: list[Rung] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    path: str = ""
    markers: list[Marker] = field(default_factory=list)


def ladder_chart(
    events: Sequence[tuple[str, dt.date, dt.datetime]],
    start: dt.date,
    end: dt.date,
    label: Label,
    lang: str,
    era: bool,
    width: int = 760,
    row: int = 17,
    hidden: frozenset[str] = frozenset(),
) -> LadderChart:
    """The stage over time: a step line through the ladder (SETBACK is the bottom row), with a marker
    per milestone event (a triangle for a setback, a circle for a rung). Steps the city hides are left
    out, unless this case has an event on one."""
    left, top = 250, 10
    used = {e[0] for e in events}
    rows = [SETBACK, *(m for m in MILESTONES if m not in hidden or m in used)]
    height = top + row * len(rows) + 34
    bottom = top + row * (len(rows) - 1)
    right = width - 14.0
    ordered = sorted(events, key=lambda e: (e[1], e[2]))
    first = min([start, *(e[1] for e in ordered)])
    last = max([end, *(e[1] for e in ordered)])
    span = max((last - first).days, 1)

    def x_of(d: dt.date) -> float:
        return left + (right - left) * (d - first).days / span

    def y_of(stage: str | None) -> float:
        index = rows.index(stage) if stage in rows else 0
        return bottom - index * row

    chart = LadderChart(width, height, left, right, top, bottom)
    chart.rungs = [Rung(y_of(m), _fit(label(m))) for m in rows]
    chart.ticks = _ticks(first, last, x_of, lang, era)
    seen: list[tuple[str, dt.date, dt.datetime]] = []
    points: list[tuple[float, float]] = []
    for event in ordered:
        before = stage_of(seen) if seen else None
        seen.append(event)
        after = stage_of(seen)
        x = x_of(event[1])
        if before is not None:
            points.append((x, y_of(before)))
        points.append((x, y_of(after)))
        title = f"{dates.format_date(event[1], lang, era)} {label(event[0])}"
        chart.markers.append(Marker(x, y_of(event[0]), event[0] == SETBACK, title))
    if points:
        points.append((x_of(last), points[-1][1]))
        chart.path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return chart


def _fit(text: str, room: float = 19.0) -> str:
    """Shorten a rung label to the space left of the chart (a city's label may be long): a wide
    (CJK) character counts 1, anything else about half; the full label stays in the markers' titles."""
    used = 0.0
    for i, ch in enumerate(text):
        used += 1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 0.55
        if used > room:
            return text[: max(i - 1, 1)] + "…"
    return text


def _ticks(first: dt.date, last: dt.date, x_of: Callable[[dt.date], float], lang: str, era: bool) -> list[Tick]:
    """Quarter starts for spans up to two years, else each 年度's first day."""
    ticks = []
    if (last - first).days <= 730:
        m = dt.date(first.year, first.month, 1)
        while m <= last:
            if m >= first and m.month in (1, 4, 7, 10):
                ticks.append(Tick(x_of(m), _month_label(m, lang, era)))
            m = (m + dt.timedelta(days=32)).replace(day=1)
    else:
        for fy in range(dates.fiscal_year(first) + 1, dates.fiscal_year(last) + 1):
            ticks.append(Tick(x_of(dt.date(fy, 4, 1)), dates.fiscal_year_label(fy, lang, era)))
    return ticks


def _month_label(m: dt.date, lang: str, era: bool) -> str:
    full = dates.format_date(m, lang, era)
    if lang == "en":
        return full.split(" ", 1)[1]  # "April 2025"
    return full[: full.index("月") + 1]  # 「令和7年4月」
