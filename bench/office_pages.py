"""How fast the office pages' queries are, called directly (no HTTP), on the shared synthetic
municipality (bench.generate: 4,000 cases, 200,000 contacts at the default scale).

    .venv/bin/python -m bench.office_pages [--scale 1] [--db sqlite|postgres]

Prints the median time of each service call; never run as a test. `python -m bench` measures the
timeline page and the dashboard through HTTP, beside the other figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.databases import temporary_database
from bench.generate import Size, populate
from bench.measure import median_ms
from server.db import utcnow
from server.i18n.dates import fiscal_year_range
from server.models import User
from server.services import caselist, dashboard, reports, timeline
from server.services.auth import actor_for


def timed(label: str, fn: Callable[[], object], runs: int = 5) -> None:
    print(f"{label:<48} {median_ms(fn, runs):8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.office_pages")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    with temporary_database(args.db) as engine:
        pop = populate(engine, Size.of(args.scale))
        print(f"{pop.counts} on {engine.dialect.name}")
        now = utcnow()
        with Session(engine) as s:
            sup = s.scalars(select(User).where(User.username == pop.supervisor)).one()
            coord = s.scalars(select(User).where(User.username == pop.coordinator)).one()
            actor, team_actor = actor_for(s, sup), actor_for(s, coord)
            for label, f in [
                ("case list, default", caselist.CaseFilters()),
                ("case list, 30 days without reach", caselist.CaseFilters(silent_days=30)),
                ("case list, stage filter", caselist.CaseFilters(stage="FIRST_FACE_TO_FACE")),
                ("case list, search ?q=", caselist.CaseFilters(q="あい")),
                ("case list, page 40 sorted by stage", caselist.CaseFilters(sort="stage", page=40)),
            ]:
                timed(label, lambda f=f: caselist.list_cases(s, actor, f, now))  # type: ignore[misc]
            timed(
                "case list, coordinator (one team)",
                lambda: caselist.list_cases(s, team_actor, caselist.CaseFilters(), now),
            )
            timed(
                "timeline of the 1,000-contact case, newest page",
                lambda: timeline.load_case(s, actor, pop.big_case, newest=timeline.TIMELINE_PAGE),
            )
            timed("timeline of the 1,000-contact case, all", lambda: timeline.load_case(s, actor, pop.big_case))
            timed("indicators for a 年度", lambda: reports.indicators(s, actor, *fiscal_year_range(2024)))
            timed("dashboard overview", lambda: dashboard.overview(s, actor, now))
            s.rollback()  # the audit rows the reads queued
    return 0


if __name__ == "__main__":
    sys.exit(main())
