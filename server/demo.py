"""The demo municipality 「架空市」: 18 staff in three teams and 96 fictional cases over 18 months.

`yorisoi demo` (and `make run`) loads it so that every page, report and stall rule has something to
show. Loading is idempotent (a second run changes nothing) and deterministic: one seeded PRNG draws
every id and every choice, and dates are laid out relative to `today`, so the stall rules fire against
the current date. Nothing here is real: names are random combinations, addresses and phone numbers are
made up, notes are invented (server/demo_data.py holds the tables).

Open cases that exercise each rule of DOMAIN.md §4 (team in brackets; days before `today`):
- S1  髙橋 誠 [北部]: next action due 12 days ago; the last contact was 20 days ago.
- S2  小野寺 美穂 [南部]: last reached 38 days ago (30 日); 𠮷田 翔太 [社協]: 67 days (60 日);
      山﨑 浩二 [北部]: 104 days (90 日, 要会議), with three unanswered attempts since.
- S3  佐々木 直樹 [北部]: six attempts in a row without reaching anyone (the last family contact was
      「家族が訪問を断った」); 松本 悠斗 [社協]: four, including 「本人が関わりを望まない」.
- S4  渡邉 隆 [南部]: regular contact at the door, but no new milestone for 215 days.
- S5  中村 健 [社協]: only family contact (家族と継続相談) since 把握 300 days ago.
- S6  井上 恵美 [南部]: the support plan review was due 20 days ago.
- S7  森 大輝 [北部]: the worker's assignment ended 14 days ago and no one took over;
      石川 （名不詳） [南部]: referred 6 days ago, not yet assigned; 清水 智子 [社協]: last coordinator
      review 120 days ago.
- R   濵田 博 [北部]: 「緊急対応」 last night (his mother, his carer, was taken to hospital);
      齋藤 久子 [南部]: 「死亡確認」 4 days ago, case closed 3 days ago.
- 端末が未同期: worker7's phone last synced 6 days ago. Their only live case, 松井 聡 [南部], looks
      overdue (S1, due 9 days ago); the alert engine holds a silent phone's case alerts back and shows
      端末が未同期 instead, so worker7 is kept off every other live case.
The other open cases are kept clear of every rule (recent reach, a review within 60 days, progress within
120 days), so the alert list shows the cases above and not the whole caseload.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import demo_data as D
from server.db import Base
from server.demo_data import Plan
from server.errors import ApiError
from server.kana import kana_key
from server.models import (
    CareRelation,
    Case,
    CaseAssignment,
    CaseReview,
    Consent,
    Contact,
    Device,
    Household,
    HouseholdMember,
    MilestoneEvent,
    Organisation,
    Person,
    Team,
    User,
)
from server.security.passwords import hash_password
from server.services import alerts
from server.services.totp import REQUIRED_ROLES
from server.vocab import FAMILY_ONLY_STAGES, MILESTONE_RANK, MILESTONES, OUTCOMES, SETBACK, OrgKind, Role

TOKYO = ZoneInfo("Asia/Tokyo")
N_CASES = 96
R = MILESTONE_RANK
DAY = dt.timedelta(days=1)


def demo_totp_secret(username: str) -> str:
    """Office roles must use two-factor sign-in, so demo office users get a TOTP secret derived from
    their name (public, like the demo password: this is demo data only). `yorisoi demo-code USERNAME`
    prints a current code for them."""
    return base64.b32encode(hashlib.sha256(b"yorisoi-demo-totp:" + username.encode()).digest()[:20]).decode()


@dataclass
class DemoSummary:
    """What `load_demo` did: whether it added anything, the sign-ins (one password for all of them)
    and, when it added them, the rows per table."""

    created: bool
    users: list[tuple[str, str, str]]  # (username, role, team name)
    password: str
    counts: dict[str, int] = field(default_factory=dict)


def _existing_users(session: Session, municipality: Organisation) -> list[tuple[str, str, str]]:
    rows = session.execute(
        select(User.username, User.role, Team.name).join(Team, User.team_id == Team.id)
        .where(Team.municipality_id == municipality.id)
    ).all()
    order = {s[0]: i for i, s in enumerate(D.STAFF)}
    return sorted(((u, r, t) for u, r, t in rows), key=lambda row: (order.get(row[0], len(order)), row[0]))


def _raise_recent_urgent(session: Session, today: dt.date) -> None:
    """Urgent events (R) raise their alert when the app applies the contact; the demo inserts rows
    directly, so it does the same for the past week's urgent contacts."""
    since = dt.datetime.combine(today - 7 * DAY, dt.time(), TOKYO)
    rows = session.execute(
        select(Case, Contact).join(Contact, Contact.case_id == Case.id).where(Contact.occurred_at >= since)
    ).all()
    for case, contact in rows:
        alerts.raise_urgent(session, case, contact, now=contact.received_at)


def is_demo_user(session: Session, username: str) -> bool:
    """True for a user of the demo municipality (only they get `yorisoi demo-code`)."""
    found = session.scalar(
        select(User.id)
        .join(Team, User.team_id == Team.id)
        .join(Organisation, Team.municipality_id == Organisation.id)
        .where(User.username == username, Organisation.name == D.MUNICIPALITY)
    )
    return found is not None


def load_demo(session: Session, today: dt.date | None = None) -> DemoSummary:
    """Add the demo municipality unless it is there already. The caller commits; the rows' `sync_seq`
    is stamped at that commit like any other change (server/models/sync_stamp.py)."""
    existing = session.scalar(
        select(Organisation).where(Organisation.name == D.MUNICIPALITY, Organisation.kind == OrgKind.MUNICIPALITY)
    )
    if existing is not None:
        return DemoSummary(False, _existing_users(session, existing), D.PASSWORD)
    if session.scalar(select(User.id).where(User.username.in_([s[0] for s in D.STAFF]))) is not None:
        raise ApiError(409, "username_taken", field="username")
    if session.scalar(select(Team.id).where(Team.name.in_([t[0] for t in D.TEAMS]))) is not None:
        raise ApiError(409, "team_taken", field="team")
    builder = _Builder(today or dt.datetime.now(TOKYO).date())
    builder.build()
    for group in builder.groups:  # in foreign-key order; one flush per group keeps it so
        session.add_all(group)
        session.flush()
    _raise_recent_urgent(session, builder.today)
    return DemoSummary(True, builder.user_rows, D.PASSWORD, builder.counts())


@dataclass
class _Event:
    """A contact to be, before it gets its time, its people and its id."""

    day: dt.date
    outcome: str
    method: str = ""
    milestone: str = ""
    note: str = ""
    destination: str = ""


class _Builder:
    """Draws the whole municipality from one seeded PRNG into lists of rows, in foreign-key order."""

    def __init__(self, today: dt.date) -> None:
        self.rng = random.Random(D.SEED)
        self.today = today
        self.orgs: list[Base] = []
        self.teams: list[Team] = []
        self.users: list[User] = []
        self.people: list[Base] = []  # devices, persons, households
        self.links: list[Base] = []  # members, care relations, cases
        self.records: list[Base] = []  # assignments, reviews, consents, contacts, milestones
        self.amendments: list[Base] = []
        self.amendable: list[tuple[Contact, str]] = []
        self.user_rows: list[tuple[str, str, str]] = []
        self.devices: dict[uuid.UUID, uuid.UUID] = {}

    @property
    def groups(self) -> list[list[Base]]:
        return [self.orgs, list(self.teams), list(self.users), self.people, self.links, self.records, self.amendments]

    def counts(self) -> dict[str, int]:
        rows = [r for g in self.groups for r in g]
        return {t: sum(1 for r in rows if r.__tablename__ == t) for t in dict.fromkeys(r.__tablename__ for r in rows)}

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TOKYO).astimezone(dt.UTC)

    def office_time(self, day: dt.date, first: int = 9, last: int = 17) -> dt.datetime:
        return self.at(day, self.rng.randint(first, last - 1), 5 * self.rng.randint(0, 11))

    @staticmethod
    def weekday(day: dt.date) -> dt.date:
        """Outreach happens on working days: a Saturday or Sunday moves back to the Friday."""
        return day - dt.timedelta(days=max(0, day.weekday() - 4))

    # -- organisations, teams, staff, devices -------------------------------------------------------

    def build(self) -> None:
        rng = self.rng
        since = self.at(self.today - dt.timedelta(days=600), 9)
        city = Organisation(id=self.uid(), name=D.MUNICIPALITY, kind=OrgKind.MUNICIPALITY, created_at=since)
        shakyo = Organisation(id=self.uid(), name=D.SHAKYO, kind=OrgKind.SHAKYO, municipality_id=city.id,
                              created_at=since)
        self.orgs = [city, shakyo]
        for name, by_shakyo, _area in D.TEAMS:
            self.teams.append(Team(id=self.uid(), name=name, municipality_id=city.id,
                                   operator_id=shakyo.id if by_shakyo else city.id, created_at=since))
        password_hash = hash_password(D.PASSWORD)  # once: argon2 is slow on purpose
        for username, role, team, display in D.STAFF:
            user = User(id=self.uid(), username=username, display_name=display, role=role,
                        team_id=self.teams[team].id, password_hash=password_hash, created_at=since,
                        password_changed_at=since,
                        totp_secret=demo_totp_secret(username) if role in REQUIRED_ROLES else None)
            self.users.append(user)
            self.user_rows.append((username, role, D.TEAMS[team][0]))
            if role == Role.WORKER:
                ago = 6 if username == D.UNSYNCED_WORKER else 1
                synced = self.at(self.today - dt.timedelta(days=ago), 17, 5 * rng.randint(0, 11))
                device = Device(id=self.uid(), user_id=user.id, label=rng.choice(D.DEVICE_LABELS),
                                created_at=since, last_push_at=synced, last_pull_at=synced, last_sync_at=synced)
                self.devices[user.id] = device.id
                self.people.append(device)
        plans = list(D.SCENARIOS) + self.random_plans(N_CASES - len(D.SCENARIOS))
        for plan in plans:
            self.build_case(plan)
        for original, fam in rng.sample(self.amendable, 5):
            self.amend(original, fam)

    def workers(self, team: int) -> list[User]:
        return [u for u in self.users if u.role == Role.WORKER and u.team_id == self.teams[team].id]

    def coordinator(self, team: int) -> User:
        return next(u for u in self.users if u.role == Role.COORDINATOR and u.team_id == self.teams[team].id)

    # -- plans ----------------------------------------------------------------------------------------

    def random_plans(self, n: int) -> list[Plan]:
        rng = self.rng
        closing = ["stable_handover"] * 4 + ["moved", "person_declined", "person_declined", "other"]
        statuses = ["closed"] * len(closing) + ["watching"] * 12
        statuses += ["open"] * (n - len(statuses))
        rng.shuffle(statuses)
        plans = []
        for i, status in enumerate(statuses):
            team = i % 3
            kinds = ("hikikomori", "8050") if team == 2 else (
                "8050", "hikikomori", "double_care", "young_carer", "self_neglect", "other")
            kind = rng.choice(kinds)
            if status == "closed":
                reason = closing.pop()
                ago = rng.randint(20, 200)
                top = R["STABLE_HANDOVER"] if reason == "stable_handover" else rng.randint(2, 8)
                gap = rng.randint(14, 45) if reason == "stable_handover" else rng.randint(45, 120)
                plans.append(Plan(kind, team, rng.randint(ago + gap + 120, 540), top, ago + gap, status=status,
                                  closed_reason=reason, closed_ago=ago))
                continue
            if status == "watching":
                age, top = rng.randint(250, 540), rng.choice((R["ACCOMPANIED_OUTING"], R["CONNECTED"]))
            else:
                age = rng.randint(20, 540)
                cap = min(R["CONNECTED"], 1 + age // 40)
                low = max(1, cap - 4, R["PERSON_AWARE"] if age > 170 else 1)
                top = rng.randint(low, max(low, cap))
            plan = Plan(kind, team, age, top, rng.randint(3, min(120, max(4, age // 3))), status=status,
                        due=rng.randint(-3, 14) if status == "open" else rng.randint(5, 30))
            if top >= R["REGULAR_CONTACT"] and rng.random() < 0.25:
                plan.setback = "any"
            if top >= R["PLAN_AGREED"]:
                plan.plan_review = rng.randint(10, 150)
                plan.withdraw_consent = rng.random() < 0.1
            if rng.random() < 0.08:
                plan.risk = (rng.choice(("dog", "infection", "hoarding")),)
            plans.append(plan)
        return plans

    # -- one case ---------------------------------------------------------------------------------------

    def build_case(self, p: Plan) -> None:
        today = self.today
        identified = self.weekday(today - dt.timedelta(days=p.age))
        coord = self.coordinator(p.team)
        person, household, fam, categories, referral = self.household(p, identified)
        case = Case(id=self.uid(), person_id=person.id, household_id=household.id, team_id=self.teams[p.team].id,
                    status=p.status, categories=categories, referral_source=referral, identified_on=identified,
                    created_by=coord.id, created_at=self.office_time(identified))
        self.links.append(case)
        closed_on = self.weekday(today - dt.timedelta(days=p.closed_ago)) if p.status == "closed" else None
        # Carers (double care, young carers) and people who came themselves are met in person from the start.
        with_family = referral != "self" and p.kind not in ("double_care", "young_carer")
        rungs = self.path(p.top if with_family else max(p.top, R["FIRST_VOICE_CONTACT"]), with_family, p.setback)
        events = self.timeline(p, rungs, identified, fam)
        who = self.assign(p, case, identified, closed_on, coord)
        self.milestone(case, "IDENTIFIED", identified, coord, "",
                       D.MILESTONE_NOTES["IDENTIFIED"].format(source=D.REFERRAL_LABELS[referral]),
                       "SHIEN_KAIGI_106_6" if referral == "shien_kaigi" else "INTERNAL_ONLY")
        ladder = self.contacts(p, case, person, events, who, fam, coord)
        self.reviews(p, case, identified, closed_on, coord, ladder)
        if closed_on is not None:
            case.closed_reason, case.closed_on = p.closed_reason, closed_on
            case.next_action, case.next_action_due = "", None
        elif p.plan_review is not None:
            case.plan_review_due = today + dt.timedelta(days=p.plan_review)
        if not events and closed_on is None:
            case.next_action, case.next_action_due = D.FIRST_ACTION, today + dt.timedelta(days=p.due)

    def path(self, top: int, with_family: bool, setback: str | None) -> list[str]:
        """The rungs climbed, in order; a setback is followed by climbing back and then further."""
        rungs = ["IDENTIFIED"]
        for rank in range(1, top + 1):
            m = MILESTONES[rank]
            if (m in FAMILY_ONLY_STAGES and not with_family) or (
                rank < top and m in D.SKIPPABLE and self.rng.random() < 0.3
            ):
                continue
            rungs.append(m)
        spots = [j for j, m in enumerate(rungs[:-1]) if R[m] >= R["FIRST_VOICE_CONTACT"]]
        if setback and spots:
            j = self.rng.choice(spots)
            rungs[j + 1 : j + 1] = [SETBACK, MILESTONES[R[rungs[j]] - 1], rungs[j]]
        return rungs

    def timeline(self, p: Plan, rungs: list[str], identified: dt.date, fam: str) -> list[_Event]:
        """Milestones spread up to `last_ms` days ago, attempts in between, then the latest contacts."""
        rng, today = self.rng, self.today
        if p.assignment == "none":
            return []
        span = max(1, (today - dt.timedelta(days=p.last_ms) - identified).days)
        offsets = [*sorted(rng.randint(1, span) for _ in rungs[2:]), span]
        reason = rng.choice(sorted(D.SETBACK_REASONS)) if p.setback == "any" else p.setback or "declined"
        events: list[_Event] = []
        rank, prev = 0, identified
        for m, offset in zip(rungs[1:], offsets, strict=False):
            day = identified + dt.timedelta(days=offset)
            events += self.fillers(prev, day, rank)
            if m == SETBACK:
                outcome, why = D.SETBACK_REASONS[reason]
                events.append(_Event(day, outcome, milestone=m, note=why.format(fam=fam)))
                rank = R["PERSON_AWARE"]
            else:
                method, outcome = rng.choice(D.TRIGGERS[m])
                dest = rng.choice(D.DESTINATIONS) if m == "CONNECTED" else ""
                events.append(_Event(day, outcome, method, m, destination=dest))
                rank = R[m]
            prev = day
        tail = p.tail or (D.closing_tail(p.closed_reason, p.closed_ago) if p.closed_reason else ())
        if tail:
            events += self.fillers(prev, today - dt.timedelta(days=tail[0][0]), rank)
            for ago, outcome in tail:
                method = "MEETING" if p.closed_reason == "stable_handover" else ""
                note = D.CLOSING_NOTES.get(p.closed_reason or "", "") if ago == tail[-1][0] else ""
                events.append(_Event(today - dt.timedelta(days=ago), outcome, method, note=note))
        else:
            final = today - dt.timedelta(days=rng.randint(1, min(20, p.last_ms - 1)))
            events += self.fillers(prev, final, rank)
            events.append(_Event(final, self.reached(rank)))
        if p.extra:
            attempts = [e for e in events if not e.milestone]
            rng.choice(attempts[len(attempts) // 3 : max(1, 2 * len(attempts) // 3)]).outcome = p.extra
        if p.emergency:
            events.append(_Event(today - DAY, "EMERGENCY_RESPONSE"))
        return events

    def fillers(self, start: dt.date, end: dt.date, rank: int) -> list[_Event]:
        weights = next(w for low, w in reversed(D.FILLERS) if rank >= low)
        out: list[_Event] = []
        day = start
        while True:
            day += dt.timedelta(days=self.rng.randint(7, 24) if rank < R["CONNECTED"] else self.rng.randint(20, 40))
            if day > end - dt.timedelta(days=3):
                return out
            out.append(_Event(day, self.rng.choices(list(weights), list(weights.values()))[0]))

    def reached(self, rank: int) -> str:
        if rank >= R["FIRST_FACE_TO_FACE"]:
            return self.rng.choice(("MET_PERSON", "MET_PERSON", "PHONE_PERSON"))
        if rank >= R["FIRST_VOICE_CONTACT"]:
            return self.rng.choice(("SPOKE_THROUGH_DOOR", "PHONE_PERSON"))
        if rank >= R["PERSON_AWARE"]:
            return self.rng.choice(("PERSON_HOME_NOT_MET", "MET_FAMILY_ONLY", "PERSON_REPLIED"))
        return self.rng.choice(("MET_FAMILY_ONLY", "PHONE_FAMILY"))

    def assign(self, p: Plan, case: Case, identified: dt.date, closed_on: dt.date | None, coord: User) -> _Who:
        rng, today = self.rng, self.today
        workers = self.workers(p.team)
        # The worker whose phone is silent keeps only the case pinned to them: the alert engine holds
        # back a lagging worker's case alerts, and the demo's other rule cases should stay visible.
        pinned = [w for w in workers if w.username == p.worker]
        active = [w for w in workers if w.username != D.UNSYNCED_WORKER]
        primary = pinned[0] if pinned else rng.choice(active)
        others = [w for w in workers if w is not primary]
        who = _Who(primary, rng.choice(others))
        if p.assignment == "none":
            return who
        end = closed_on or (today - dt.timedelta(days=14) if p.assignment == "ended" else None)
        start = identified
        if p.assignment == "normal" and p.age > 150 and rng.random() < 0.25:
            who.former = others.pop(rng.randrange(len(others)))
            who.switch = start = self.weekday(identified + dt.timedelta(days=rng.randint(60, p.age - 60)))
            self.assignment(case, who.former, True, identified, start, coord)
        self.assignment(case, primary, True, start, end, coord)
        if rng.random() < 0.3:
            second = who.buddy = rng.choice([w for w in others if w.username != D.UNSYNCED_WORKER])
            begin = identified + dt.timedelta(days=rng.randint(14, 60))
            stop = begin + dt.timedelta(days=rng.randint(60, 120)) if rng.random() < 0.3 and p.age > 200 else end
            self.assignment(case, second, False, begin, stop, coord)
        return who

    def assignment(self, case: Case, user: User, primary: bool, start: dt.date, end: dt.date | None,
                   coord: User) -> None:
        self.records.append(CaseAssignment(
            id=self.uid(), case_id=case.id, user_id=user.id, is_primary=primary, assigned_by=coord.id,
            started_at=self.office_time(self.weekday(start)),
            ended_at=self.office_time(self.weekday(end)) if end else None,
        ))

    def contacts(self, p: Plan, case: Case, person: Person, events: list[_Event], who: _Who, fam: str,
                 coord: User) -> list[tuple[dt.date, int]]:
        """Turn the events into contact records (and milestones, consents); returns the climb as (day, rank)."""
        rng, today = self.rng, self.today
        consent: Consent | None = None
        rank = 0
        ladder: list[tuple[dt.date, int]] = []
        risky_from = next((e.day for e in events if e.outcome == p.extra), case.identified_on)
        rows: list[Contact] = []
        events.sort(key=lambda e: e.day)
        for n, ev in enumerate(events):
            night = ev.outcome == "EMERGENCY_RESPONSE"
            day = ev.day if night else self.weekday(ev.day)
            method = ev.method or rng.choice(D.METHODS.get(ev.outcome, ("HOME_VISIT",)))
            reached = OUTCOMES[ev.outcome]
            occurred = self.at(day, 22, 10) if night else self.office_time(day, 10 if method in D.TWO_PERSON else 9)
            recorder = who.at(day)
            if ev.milestone:
                rank = R["PERSON_AWARE"] if ev.milestone == SETBACK else R[ev.milestone]
                ladder.append((day, rank))
            if ev.milestone == "CONSENT_GIVEN":
                consent = self.consent(p, case, person, day, recorder)
            if ev.milestone == "PLAN_AGREED":
                case.support_decision = True
                case.support_decision_on = self.weekday(min(day + dt.timedelta(days=rng.randint(0, 14)), today - DAY))
            if night:
                basis = "EMERGENCY"
            elif consent and consent.given_on <= day and (consent.withdrawn_on is None or day < consent.withdrawn_on):
                basis = "CONSENT"
            else:
                basis = "SHIEN_KAIGI_106_6" if case.referral_source == "shien_kaigi" else "INTERNAL_ONLY"
            span = D.DURATION_BY_OUTCOME.get(ev.outcome) or (
                D.DURATIONS[method][reached == "none"] if method in D.DURATIONS else None)
            minutes = rng.randint(*span) if span else None
            visitors = [recorder]
            if method == "MEETING":
                visitors.append(coord)
            elif method in D.TWO_PERSON and (night or rng.random() < 0.9):
                visitors.append(who.buddy)
            stage = "connected" if rank >= R["CONNECTED"] else "person" if rank >= R["PERSON_AWARE"] else "family"
            action = rng.choice(D.NEXT_ACTIONS[stage]).format(fam=fam)
            due: dt.date | None = day + dt.timedelta(days=rng.randint(3, 14))
            if night:
                action, due = D.EMERGENCY_NEXT_ACTION, today
            elif n == len(events) - 1:
                due = None if p.status == "closed" else max(today + dt.timedelta(days=p.due), day + DAY)
            client_time = occurred + dt.timedelta(minutes=(minutes or 5) + rng.randint(1, 20))
            # Most records reach the server within minutes; some wait for signal until the evening.
            delay = dt.timedelta(minutes=rng.randint(1, 30) if rng.random() < 0.7 else rng.randint(60, 300))
            contact = Contact(
                id=self.uid(), case_id=case.id, occurred_at=occurred, method=method,
                counterpart=_counterpart(ev.outcome, method), outcome=ev.outcome, reached=reached,
                reception=rng.choice(D.RECEPTIONS[ev.outcome]) if ev.outcome in D.RECEPTIONS else None,
                duration_min=minutes, visitor_ids=[str(u.id) for u in visitors],
                risk_flags=list(p.risk) if method == "HOME_VISIT" and ev.day >= risky_from else [],
                notes=ev.note or rng.choice(D.NOTES.get(f"{ev.outcome}@{method}") or D.NOTES[ev.outcome]).format(
                    fam=fam),
                next_action=action, next_action_due=due, sharing_basis=basis, recorded_by=recorder.id,
                device_id=self.devices[recorder.id], client_time=client_time,
                received_at=occurred + dt.timedelta(minutes=35) if night else client_time + delay,
            )
            rows.append(contact)
            if ev.milestone:
                note = ev.note or D.MILESTONE_NOTES[ev.milestone].format(fam=fam, dest=ev.destination)
                self.milestone(case, ev.milestone, day, recorder, ev.destination, note, basis,
                               contact.received_at)
        self.records.extend(rows)
        if rows and p.status != "closed":
            case.next_action, case.next_action_due = rows[-1].next_action, rows[-1].next_action_due
        if p.status == "open" and not p.tail and not p.emergency:
            self.amendable += [(c, fam) for c in rows[:-6] if c.outcome in ("NO_ANSWER", "MET_FAMILY_ONLY")]
        return ladder

    def milestone(self, case: Case, m: str, day: dt.date, by: User, dest: str, note: str, basis: str,
                  received: dt.datetime | None = None) -> None:
        self.records.append(MilestoneEvent(
            id=self.uid(), case_id=case.id, milestone=m, reached_on=day, note=note, destination=dest,
            sharing_basis=basis, recorded_by=by.id, device_id=self.devices.get(by.id),
            received_at=received or self.at(day, 8, 45),
        ))

    def consent(self, p: Plan, case: Case, person: Person, day: dt.date, by: User) -> Consent:
        rng = self.rng
        consent = Consent(
            id=self.uid(), case_id=case.id, person_id=person.id, form=rng.choice(("written", "written", "oral")),
            scope=rng.sample(D.CONSENT_AGENCIES, rng.randint(2, 4)), given_on=day, recorded_by=by.id,
            received_at=self.office_time(day, 13),
        )
        if p.withdraw_consent:
            consent.withdrawn_on = self.weekday(day + dt.timedelta(days=(self.today - day).days // 2))
            consent.note = D.CONSENT_WITHDRAWN_NOTE
        self.records.append(consent)
        return consent

    def reviews(self, p: Plan, case: Case, identified: dt.date, closed_on: dt.date | None, coord: User,
                ladder: list[tuple[dt.date, int]]) -> None:
        rng, today = self.rng, self.today
        cutoff = closed_on or today - dt.timedelta(days=p.review_ago or 1)
        days, day = [], identified + dt.timedelta(days=rng.randint(5, 20))
        while day <= cutoff:
            days.append(day)
            day += dt.timedelta(days=rng.randint(30, 70))
        if closed_on is None and p.review_ago is None and (not days or days[-1] < today - dt.timedelta(days=60)):
            days.append(max(identified + DAY, today - dt.timedelta(days=rng.randint(3, 45))))
        basis = "SHIEN_KAIGI_106_6" if case.referral_source == "shien_kaigi" else "INTERNAL_ONLY"
        for day in days:
            rank = next((r for d, r in reversed(ladder) if d <= day), 0)
            stage = "plan" if rank >= R["PLAN_AGREED"] else "person" if rank >= R["PERSON_AWARE"] else "family"
            body = D.REVIEW_UNASSIGNED if p.assignment == "none" else rng.choice(D.REVIEW_COMMENTS[stage])
            self.records.append(CaseReview(id=self.uid(), case_id=case.id, author_id=coord.id, body=body,
                                           sharing_basis=basis, created_at=self.office_time(self.weekday(day))))

    def amend(self, original: Contact, fam: str) -> None:
        """A correction is a new record pointing at the original (contacts are append-only)."""
        fix = Contact(**{a.key: getattr(original, a.key) for a in sa_inspect(Contact).column_attrs})
        fix.id, fix.amends_id = self.uid(), original.id
        fix.received_at = original.received_at + dt.timedelta(days=1, minutes=self.rng.randint(0, 120))
        fix.client_time = fix.received_at - dt.timedelta(minutes=2)
        if original.outcome == "NO_ANSWER" and not any(
            isinstance(r, Contact) and r.outcome == "PERSON_HOME_NOT_MET" for r in self.amendments
        ):
            fix.outcome, fix.reached, fix.counterpart = "PERSON_HOME_NOT_MET", "family", "FAMILY"
            fix.reception, fix.notes = "NEUTRAL", D.AMENDED_OUTCOME_NOTE.format(fam=fam)
        else:
            fix.duration_min = (original.duration_min or 10) + 5
            fix.notes = f"{original.notes}\n{D.AMENDMENT_NOTE}"
        self.amendments.append(fix)

    # -- people ---------------------------------------------------------------------------------------

    def household(self, p: Plan, since: dt.date) -> tuple[Person, Household, str, list[str], str]:
        """The person at the centre, the household they actually live in, its members and care relations.
        Returns (person, household, how notes refer to the family, categories, referral source)."""
        rng = self.rng
        area = D.TEAMS[p.team][2]
        town, postal = rng.choice(D.TOWNS[rng.choice(("north", "south")) if area == "all" else area])
        created = self.office_time(since)

        def home() -> Household:
            row = Household(id=self.uid(), postal_code=postal, prefecture=D.PREFECTURE, municipality=D.MUNICIPALITY,
                            town=town, block=f"{rng.randint(1, 30)}番{rng.randint(1, 20)}号",
                            building=rng.choice(D.BUILDINGS) if rng.random() < 0.45 else "",
                            created_at=created)
            self.people.append(row)
            return row

        def new(age: int, gender: str, central: bool = False, full: bool = False) -> Person:
            given = (p.name[1], p.name[3]) if central and p.name else None
            return self.person(family, age, gender, created, given, central=central, full=full)

        if p.name:
            family = (p.name[0], p.name[2])
        else:
            family = rng.choice(D.RARE_FAMILY_NAMES if rng.random() < 0.08 else D.FAMILY_NAMES)
        g = p.gender or rng.choice("mmf" if p.kind in ("8050", "hikikomori") else "mf")
        household, label = home(), "ご家族"
        care: list[tuple[Person, Person, str]] = []
        if p.kind == "8050":
            me = new(rng.randint(50, 59), g, central=True)
            mother = new(rng.randint(80, 89), "f")
            members, care, label = [(me, "本人"), (mother, "母")], [(mother, me, "support")], "お母様"
            if rng.random() < 0.4:
                members.append((new(rng.randint(82, 92), "m"), "父"))
                label = "ご両親"
            cats = ["8050", "hikikomori", *rng.choice(((), ("poverty",), ("elderly_care",)))]
            referral = rng.choice(("chiiki_houkatsu", "chiiki_houkatsu", "minsei_iin", "shien_kaigi", "family"))
        elif p.kind == "hikikomori":
            me = new(rng.randint(20, 45), g, central=True)
            mother = new(rng.randint(48, 75), "f")
            members, care, label = [(me, "本人"), (mother, "母")], [(mother, me, "support")], "お母様"
            if rng.random() < 0.6:
                members.append((new(rng.randint(50, 78), "m"), "父"))
            cats = ["hikikomori", *rng.choice(((), (), ("disability",), ("poverty",)))]
            referral = rng.choice(("family", "family", "minsei_iin", "other_agency", "shien_kaigi", "neighbour"))
        elif p.kind == "double_care":
            me = new(rng.randint(38, 50), "f", central=True)
            members = [(me, "本人")]
            if rng.random() < 0.55:
                members.append((new(rng.randint(40, 55), "m"), "夫"))
            for _ in range(2):
                child = new(rng.randint(2, 12), rng.choice("mf"), full=True)
                members.append((child, "子"))
                care.append((me, child, "childcare"))
            if rng.random() < 0.5:
                family = rng.choice(D.FAMILY_NAMES)  # her mother kept another family name
            mother = new(rng.randint(75, 88), "f")
            self.links.append(HouseholdMember(id=self.uid(), household_id=home().id, person_id=mother.id,
                                              relationship="世帯主"))
            care.append((me, mother, "nursing"))  # across households
            cats = ["double_care", "elderly_care"]
            referral = rng.choice(("chiiki_houkatsu", "self", "other_agency", "school"))
        elif p.kind == "young_carer":
            me = new(rng.randint(13, 17), g, central=True, full=True)
            mother = new(rng.randint(38, 50), "f")
            sib_gender = rng.choice("mf")
            sibling = new(rng.randint(6, 11), sib_gender, full=True)
            members = [(me, "本人"), (mother, "母"), (sibling, "弟" if sib_gender == "m" else "妹")]
            care, label = [(me, mother, "household"), (me, sibling, "siblings")], "お母様"
            if rng.random() < 0.25:
                grandmother = new(rng.randint(70, 85), "f")
                members.append((grandmother, "祖母"))
                care.append((me, grandmother, "nursing"))
            cats = ["young_carer", *rng.choice(((), ("disability",)))]
            referral = "school" if rng.random() < 0.7 else "other_agency"
        elif p.kind == "self_neglect":
            me = new(rng.randint(68, 86), g, central=True)
            members, label = [(me, "本人")], "ご親族"
            cats = ["self_neglect", "elderly_care", *rng.choice(((), ("poverty",)))]
            referral = rng.choice(("neighbour", "minsei_iin", "chiiki_houkatsu"))
        else:
            age = rng.randint(30, 64)
            me = new(age, g, central=True)
            members = [(me, "本人")]
            if rng.random() < 0.4:
                members.append((new(age + rng.randint(2, 6), "f"), "姉"))
                label = "お姉様"
            cats = list(rng.choice((("poverty",), ("disability",), ("other",), ("poverty", "disability"))))
            referral = rng.choice(("other_agency", "self", "neighbour"))
        for member, relationship in members:
            self.links.append(HouseholdMember(id=self.uid(), household_id=household.id, person_id=member.id,
                                              relationship=relationship))
        for carer, cared, kind in care:
            what, note = D.CARE_KINDS[kind]
            self.links.append(CareRelation(id=self.uid(), carer_id=carer.id, cared_id=cared.id, kind=what, note=note))
        return me, household, label, cats, referral

    def person(self, family: tuple[str, str], age: int, gender: str, created: dt.datetime,
               given: tuple[str, str] | None, *, central: bool, full: bool) -> Person:
        rng = self.rng
        generation = "old" if age >= 70 else "mid" if age >= 30 else "young"
        name, kana = given or rng.choice(D.GIVEN_NAMES[(generation, gender)])
        born = self.today - dt.timedelta(days=365 * age + rng.randint(0, 364))
        row = Person(id=self.uid(), family_name=family[0], given_name=name, family_name_kana=family[1],
                     given_name_kana=kana, kana_key=kana_key(family[1], kana), created_at=created)
        known = rng.random()
        if full or known < (0.45 if central else 0.2):
            row.birth_date = born
        elif known < (0.8 if central else 0.6):
            row.birth_year = born.year
        if central and kana and rng.random() < 0.2:
            short = kana[:3] if len(kana) > 2 and kana[1] in "ァィゥェォャュョ" else kana[:2]  # ショウ, ケン
            row.preferred_name = short + rng.choice(D.PREFERRED_SUFFIXES)
        if central and rng.random() < 0.35:
            row.phone = f"090-0000-{rng.randint(0, 9999):04d}"
        self.people.append(row)
        return row


@dataclass
class _Who:
    """Who records a case's contacts on a given day: the primary worker then (after a handover, the
    former primary before it), and the colleague who goes along on visits."""

    primary: User
    buddy: User
    former: User | None = None
    switch: dt.date | None = None

    def at(self, day: dt.date) -> User:
        if self.former is not None and self.switch is not None and day < self.switch:
            return self.former
        return self.primary


def _counterpart(outcome: str, method: str) -> str:
    if method == "AGENCY_LIAISON":
        return "AGENCY"
    if outcome in ("MOVED_OR_UNKNOWN", "EMERGENCY_RESPONSE"):
        return "COMMUNITY"
    if outcome == "IN_HOSPITAL_OR_FACILITY":
        return "FAMILY"
    return {"person": "PERSON", "family": "FAMILY"}.get(OUTCOMES[outcome], "NONE")
