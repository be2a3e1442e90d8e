"""CSV exports for the city: the 実績報告 indicators and a contacts list for a period.

Excel on Japanese Windows opens a CSV cleanly only as UTF-8 *with* a BOM and CRLF line ends, so both
are written that way. Headers and labels are Japanese whatever the user's language: these files go
into the city's own forms.

The contacts CSV holds what a count needs and nothing that identifies the person: ids and vocabulary,
no names, no addresses, no free text (notes, next actions), no risk flags. Ids are still pseudonymous
personal data, so every export is audited (who, what, which period, how many rows).

Cells that a spreadsheet would run as a formula (leading = + - @, tab, CR) are prefixed with an
apostrophe: free text such as a つながり先 must not become a formula in the city's Excel.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from server import i18n
from server.i18n.dates import fiscal_year, fiscal_year_label, to_tokyo
from server.models import Case, Contact, Team, User
from server.permissions import Actor
from server.services import audit
from server.services.derived import day_start, effective_contacts
from server.services.reports import MEETING_KIND_ORDER, Indicators, report_scope

Cell = str | int | float | None
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
OUTREACH_HEADER = ("年度", "期間開始", "期間終了", "指標", "内訳", "値")
CONTACTS_HEADER = (
    "接触ID", "ケースID", "チーム", "日付", "時刻", "年度", "方法", "相手", "結果", "到達",
    "応対", "所要時間（分）", "訂正あり", "共有の根拠", "記録者",
)


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def _ja(key: str) -> str:
    return i18n.t("ja", key)


def outreach_rows(ind: Indicators, label: str) -> list[tuple[Cell, ...]]:
    """The indicators as (年度, 期間開始, 期間終了, 指標, 内訳, 値) rows."""
    period = (label, ind.start.isoformat(), ind.end.isoformat())
    rows: list[tuple[Cell, ...]] = []

    def add(key: str, detail: str, value: Cell) -> None:
        rows.append((*period, _ja(f"report.{key}"), detail, value))

    add("persons_supported", "", ind.persons_supported)
    add("contacts_total", _ja("report.total"), ind.contacts_total)
    for method, n in ind.contacts_by_method.items():
        add("contacts_total", _ja(f"method.{method}"), n)
    add("persons_reached", "", ind.persons_reached)
    add("families_reached", "", ind.families_reached)
    add("new_cases", _ja("report.total"), ind.new_cases)
    for source, n in ind.new_by_source.items():
        add("new_cases", _ja(f"referral_source.{source}"), n)
    add("days_to_person_median", "", ind.days_to_person_median)
    add("days_to_person_count", "", ind.days_to_person_count)
    add("connected", _ja("report.total"), ind.connected)
    for destination, n in ind.connected_by_destination.items():
        add("connected", destination or _ja("report.unspecified"), n)
    add("closed", _ja("report.total"), ind.closed)
    for reason, n in ind.closed_by_reason.items():
        add("closed", _ja(f"closed_reason.{reason}"), n)
    for kind in MEETING_KIND_ORDER:
        add("meetings", _ja(f"meeting_kind.{kind}"), ind.meetings.get(kind, 0))
    return rows


def outreach_csv(session: Session, actor: Actor, ind: Indicators, fy: int, quarter: int | None) -> bytes:
    label = fiscal_year_label(fy, "ja", True) + (_ja(f"report.quarter_{quarter}") if quarter else "")
    audit.record(
        session, actor, "report.export", entity="report", entity_id="outreach", detail=f"fy={fy} q={quarter or 0}"
    )
    return to_csv(OUTREACH_HEADER, outreach_rows(ind, label))


def contacts_csv(session: Session, actor: Actor, start: dt.date, end: dt.date) -> bytes:
    """Every contact attempt in [start, end] (Tokyo days) in the actor's report scope, oldest first."""
    eff = effective_contacts()
    original = aliased(Contact)
    stmt = (
        select(
            eff.c.id,
            eff.c.case_id,
            Team.name,
            eff.c.occurred_at,
            eff.c.method,
            eff.c.counterpart,
            eff.c.outcome,
            eff.c.reached,
            eff.c.reception,
            eff.c.duration_min,
            eff.c.amended,
            eff.c.sharing_basis,
            User.display_name,
        )
        .select_from(eff)
        .join(Case, Case.id == eff.c.case_id)
        .join(Team, Team.id == Case.team_id)
        .join(original, original.id == eff.c.id)
        .join(User, User.id == original.recorded_by)
        .where(
            report_scope(actor),
            eff.c.occurred_at >= day_start(start),
            eff.c.occurred_at < day_start(end + dt.timedelta(days=1)),
        )
        .order_by(eff.c.occurred_at, eff.c.id)
    )
    rows: list[tuple[Cell, ...]] = []
    for r in session.execute(stmt):
        local = to_tokyo(r.occurred_at)
        rows.append(
            (
                str(r.id),
                str(r.case_id),
                r.name,
                local.date().isoformat(),
                f"{local:%H:%M}",
                fiscal_year_label(fiscal_year(local.date()), "ja", True),
                _ja(f"method.{r.method}"),
                _ja(f"counterpart.{r.counterpart}"),
                _ja(f"outcome.{r.outcome}"),
                _ja(f"reached.{r.reached}"),
                _ja(f"reception.{r.reception}") if r.reception else "",
                r.duration_min,
                _ja("ui.yes") if r.amended else "",
                _ja(f"sharing_basis.{r.sharing_basis}"),
                r.display_name,
            )
        )
    audit.record(
        session,
        actor,
        "report.export",
        entity="report",
        entity_id="contacts",
        detail=f"from={start.isoformat()} to={end.isoformat()} rows={len(rows)}",
    )
    return to_csv(CONTACTS_HEADER, rows)
