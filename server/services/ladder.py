"""The milestone ladder as each city configures it (DOMAIN.md §3: "the ladder is configuration — a
city may relabel or hide steps").

The ids never change. Events keep the id they were recorded with, the current stage is still derived
from them by their rank in `vocab.MILESTONES`, and the stall rules still count them. What a city
changes is only what people see:
- a label per language (one label, used wherever the long or the short label would be), and
- whether the step is offered when someone records a new milestone. A hidden step still shows, with
  its label, wherever an old event names it.

The configuration is the municipality's `Organisation.settings["milestones"]`:
`{"<ID>": {"labels": {"ja": "…", "en": "…"}, "hidden": true}}`, holding only what differs from the
defaults. Every write is validated strictly; a stored value that does not parse (edited by hand in
the database) is ignored with a warning rather than taking every page down.
"""

from __future__ import annotations

import logging
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import i18n
from server.errors import ApiError
from server.models import Organisation
from server.permissions import Actor
from server.services import audit
from server.vocab import ALL_MILESTONES, MILESTONE_RANK, SETBACK, OrgKind

log = logging.getLogger("yorisoi.ladder")

SETTINGS_KEY = "milestones"
MAX_LABEL = 40  # the office's ladder chart and the phone's select have room for about this much
# SETBACK is how a worker records a step back; without it the derived stage could only climb.
NOT_HIDEABLE = frozenset({SETBACK})
_STEP_KEYS = frozenset({"labels", "hidden"})


@dataclass(frozen=True)
class StepConfig:
    labels: Mapping[str, str] = field(default_factory=dict)  # only the languages the city relabelled
    hidden: bool = False


Config = dict[str, StepConfig]


@dataclass(frozen=True)
class Step:
    id: str
    rank: int | None  # None for SETBACK, which is not a rung
    labels: Mapping[str, str]  # per language: what people see as the long label
    short: Mapping[str, str]  # … and as the short one (the city's label serves as both)
    defaults: Mapping[str, str]  # the catalogue's long label
    hidden: bool
    relabelled: frozenset[str]  # languages with a city label

    def reference(self) -> dict[str, Any]:
        """The step as the field app receives it in the sync reference data."""
        return {
            "id": self.id,
            "rank": self.rank,
            "labels": dict(self.labels),
            "short": dict(self.short),
            "hidden": self.hidden,
        }


@dataclass(frozen=True)
class Ladder:
    steps: tuple[Step, ...]  # in ladder order, SETBACK last

    def step(self, milestone: str) -> Step | None:
        return next((s for s in self.steps if s.id == milestone), None)

    @property
    def choosable(self) -> tuple[str, ...]:
        """The ids offered when recording a new milestone, in order."""
        return tuple(s.id for s in self.steps if not s.hidden)

    @property
    def hidden(self) -> frozenset[str]:
        return frozenset(s.id for s in self.steps if s.hidden)

    def catalogue_text(self, key: str, lang: str) -> str | None:
        """The city's label for a catalogue key `milestone.<ID>` or `milestone_short.<ID>`, or None
        when the key is something else or the city kept the default."""
        prefix, _, milestone = key.partition(".")
        if prefix not in ("milestone", "milestone_short"):
            return None
        step = self.step(milestone)
        if step is None or lang not in step.relabelled:
            return None
        return step.labels[lang]


def ladder_of(config: Config) -> Ladder:
    steps = []
    for m in ALL_MILESTONES:
        c = config.get(m, StepConfig())
        defaults = {lang: i18n.t(lang, f"milestone.{m}") for lang in i18n.LANGUAGES}
        short = {lang: c.labels.get(lang) or i18n.t(lang, f"milestone_short.{m}") for lang in i18n.LANGUAGES}
        steps.append(
            Step(
                id=m,
                rank=MILESTONE_RANK.get(m),
                labels={lang: c.labels.get(lang) or defaults[lang] for lang in i18n.LANGUAGES},
                short=short,
                defaults=defaults,
                hidden=c.hidden,
                relabelled=frozenset(c.labels),
            )
        )
    return Ladder(tuple(steps))


@cache
def default() -> Ladder:
    """The ladder with no city configuration (built on first use, not at import)."""
    return ladder_of({})


# ---- validation ----


def clean_label(value: object, where: str) -> str:
    """A label as stored: trimmed, not empty, at most MAX_LABEL characters, no control characters."""
    if not isinstance(value, str):
        raise ApiError(422, "ladder_invalid", field=where)
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise ApiError(422, "label_empty", field=where)
    if len(text) > MAX_LABEL:
        raise ApiError(422, "label_too_long", field=where)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise ApiError(422, "label_invalid", field=where)
    return text


def parse_config(raw: object) -> Config:
    """`{"<ID>": {"labels": {...}, "hidden": bool}}` validated strictly; ApiError 422 with a
    machine-readable code and the offending field otherwise. Labels equal to the default, and steps
    left with nothing to say, are dropped, so the stored value stays minimal."""
    if not isinstance(raw, Mapping):
        raise ApiError(422, "ladder_invalid", field=SETTINGS_KEY)
    config: Config = {}
    for milestone, entry in raw.items():
        if milestone not in ALL_MILESTONES:
            raise ApiError(422, "milestone_unknown", field=str(milestone)[:60])
        if not isinstance(entry, Mapping) or not set(entry) <= _STEP_KEYS:
            raise ApiError(422, "ladder_invalid", field=milestone)
        labels_raw = entry.get("labels", {})
        if not isinstance(labels_raw, Mapping) or not set(labels_raw) <= set(i18n.LANGUAGES):
            raise ApiError(422, "ladder_invalid", field=f"{milestone}.labels")
        labels = {}
        for lang, value in labels_raw.items():
            text = clean_label(value, f"{milestone}.labels.{lang}")
            if text != i18n.t(lang, f"milestone.{milestone}"):
                labels[lang] = text
        hidden = entry.get("hidden", False)
        if not isinstance(hidden, bool):
            raise ApiError(422, "ladder_invalid", field=f"{milestone}.hidden")
        if hidden and milestone in NOT_HIDEABLE:
            raise ApiError(422, "milestone_not_hideable", field=milestone)
        if labels or hidden:
            config[milestone] = StepConfig(labels=labels, hidden=hidden)
    if all(config.get(m, StepConfig()).hidden for m in MILESTONE_RANK):
        raise ApiError(422, "ladder_all_hidden", field=SETTINGS_KEY)
    return config


def dump_config(config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for milestone in ALL_MILESTONES:  # ladder order, so the stored JSON reads like the ladder
        c = config.get(milestone)
        if c is None:
            continue
        entry: dict[str, Any] = {}
        if c.labels:
            entry["labels"] = {lang: c.labels[lang] for lang in i18n.LANGUAGES if lang in c.labels}
        if c.hidden:
            entry["hidden"] = True
        out[milestone] = entry
    return out


# ---- reading and writing ----


def _stored(org: Organisation) -> Config:
    raw = (org.settings or {}).get(SETTINGS_KEY, {})
    try:
        return parse_config(raw)
    except ApiError as exc:
        log.warning("organisation %s: stored milestone ladder ignored (%s)", org.id, exc.code)
        return {}


def for_municipality(session: Session, municipality_id: uuid.UUID) -> Ladder:
    org = session.get(Organisation, municipality_id)
    if org is None:
        return default()
    config = _stored(org)
    return ladder_of(config) if config else default()


def config_for(session: Session, municipality_id: uuid.UUID) -> Config:
    org = session.get(Organisation, municipality_id)
    return _stored(org) if org is not None else {}


def find_municipality(session: Session, name: str | None) -> Organisation:
    """For the command line: the municipality named, or the only one there is."""
    stmt = select(Organisation).where(Organisation.kind == OrgKind.MUNICIPALITY)
    if name is not None:
        stmt = stmt.where(Organisation.name == name)
    found = list(session.scalars(stmt.limit(2)))
    if not found:
        raise ApiError(404, "municipality_not_found")
    if len(found) > 1:
        raise ApiError(422, "municipality_ambiguous", field="municipality")
    return found[0]


def save(session: Session, actor: Actor | None, municipality_id: uuid.UUID, raw: object) -> Ladder:
    """Replace the municipality's ladder configuration with `raw` (validated); audited with the
    names of what changed (`<ID>.label_ja`, `<ID>.hidden`, …), never the labels themselves."""
    config = parse_config(raw)
    org = session.get(Organisation, municipality_id, with_for_update=True)
    if org is None or org.kind != OrgKind.MUNICIPALITY:
        raise ApiError(404, "municipality_not_found")
    before = _stored(org)
    changed = _changes(before, config)
    if changed:
        # A new dict, not an in-place edit: the JSON column only notices assignment.
        org.settings = {**(org.settings or {}), SETTINGS_KEY: dump_config(config)}
        audit.record(session, actor, "settings.ladder", entity="organisation", entity_id=org.id, fields=changed)
    return ladder_of(config)


def change_step(
    session: Session,
    actor: Actor | None,
    municipality_id: uuid.UUID,
    milestone: str,
    *,
    labels: Mapping[str, str | None] | None = None,
    hidden: bool | None = None,
) -> Ladder:
    """Change one step: a label per language (None puts the default back), and/or hidden."""
    if milestone not in ALL_MILESTONES:
        raise ApiError(422, "milestone_unknown", field="milestone")
    config = config_for(session, municipality_id)
    current = config.get(milestone, StepConfig())
    new_labels = dict(current.labels)
    for lang, value in (labels or {}).items():
        if lang not in i18n.LANGUAGES:
            raise ApiError(422, "ladder_invalid", field=f"labels.{lang}")
        if value is None:
            new_labels.pop(lang, None)
        else:
            new_labels[lang] = value
    config[milestone] = StepConfig(labels=new_labels, hidden=current.hidden if hidden is None else hidden)
    raw = {m: {"labels": dict(c.labels), "hidden": c.hidden} for m, c in config.items()}
    return save(session, actor, municipality_id, raw)


def _changes(before: Config, after: Config) -> list[str]:
    changed = []
    for m in ALL_MILESTONES:
        a, b = before.get(m, StepConfig()), after.get(m, StepConfig())
        changed += [f"{m}.label_{lang}" for lang in i18n.LANGUAGES if a.labels.get(lang) != b.labels.get(lang)]
        if a.hidden != b.hidden:
            changed.append(f"{m}.hidden")
    return changed
