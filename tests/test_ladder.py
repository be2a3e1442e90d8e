"""The city's milestone ladder (server/services/ladder.py): strict validation, what is stored, the
audit of a change, that the derived stage ignores labels and hidden flags, and `yorisoi ladder`."""

from __future__ import annotations

import datetime as dt
import io
import sys
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.cli import main
from server.errors import ApiError
from server.models import AuditEvent, Organisation
from server.services import ladder as ladders
from server.services.progress import stage_of
from server.vocab import ALL_MILESTONES, MILESTONES
from tests.factories import Factory

AT = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


def org_id(factory: Factory, name: str = "テスト市") -> uuid.UUID:
    return factory.municipality(name).id


def save(db_factory: sessionmaker[Session], municipality: uuid.UUID, raw: Any) -> ladders.Ladder:
    with db_factory() as s, s.begin():
        return ladders.save(s, None, municipality, raw)


def stored(db_factory: sessionmaker[Session], municipality: uuid.UUID) -> Any:
    with db_factory() as s:
        return s.get_one(Organisation, municipality).settings.get("milestones")


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ({"NOT_A_STEP": {"hidden": True}}, "milestone_unknown", "NOT_A_STEP"),
        ({"PERSON_AWARE": {"labels": {"ja": ""}}}, "label_empty", "PERSON_AWARE.labels.ja"),
        ({"PERSON_AWARE": {"labels": {"en": "   "}}}, "label_empty", "PERSON_AWARE.labels.en"),
        ({"PERSON_AWARE": {"labels": {"ja": "あ" * 41}}}, "label_too_long", "PERSON_AWARE.labels.ja"),
        ({"PERSON_AWARE": {"labels": {"ja": "改行\nあり"}}}, "label_invalid", "PERSON_AWARE.labels.ja"),
        ({"PERSON_AWARE": {"labels": {"ja": "見えない\u200e文字"}}}, "label_invalid", "PERSON_AWARE.labels.ja"),
        ({"PERSON_AWARE": {"labels": {"fr": "Conscient"}}}, "ladder_invalid", "PERSON_AWARE.labels"),
        ({"PERSON_AWARE": {"labels": {"ja": 3}}}, "ladder_invalid", "PERSON_AWARE.labels.ja"),
        ({"PERSON_AWARE": {"hidden": "yes"}}, "ladder_invalid", "PERSON_AWARE.hidden"),
        ({"PERSON_AWARE": {"colour": "red"}}, "ladder_invalid", "PERSON_AWARE"),
        ({"PERSON_AWARE": True}, "ladder_invalid", "PERSON_AWARE"),
        (["PERSON_AWARE"], "ladder_invalid", "milestones"),
        ({"SETBACK": {"hidden": True}}, "milestone_not_hideable", "SETBACK"),
        ({m: {"hidden": True} for m in MILESTONES}, "ladder_all_hidden", "milestones"),
    ],
)
def test_bad_configuration_is_refused_with_a_code_and_nothing_is_stored(
    factory: Factory, db_factory: sessionmaker[Session], raw: Any, code: str, field: str
) -> None:
    city = org_id(factory)
    with pytest.raises(ApiError) as caught:
        save(db_factory, city, raw)
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, code, field)
    assert stored(db_factory, city) is None
    with db_factory() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.ladder")).all() == []


def test_relabel_and_hide_keep_the_ids_and_store_only_the_differences(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    city = org_id(factory)
    ladder = save(
        db_factory,
        city,
        {
            "FIRST_FACE_TO_FACE": {"labels": {"ja": " 初めて顔を合わせた ", "en": "Met in person"}},
            "PERSON_AWARE": {"hidden": True},
            # Typing the standard label is no relabel; a step with nothing left is not stored.
            "IDENTIFIED": {"labels": {"ja": "把握（情報提供を受けた）"}, "hidden": False},
            "SETBACK": {"labels": {"ja": "中断"}},
        },
    )
    assert stored(db_factory, city) == {
        "PERSON_AWARE": {"hidden": True},
        "FIRST_FACE_TO_FACE": {"labels": {"ja": "初めて顔を合わせた", "en": "Met in person"}},
        "SETBACK": {"labels": {"ja": "中断"}},
    }
    assert [s.id for s in ladder.steps] == list(ALL_MILESTONES)
    assert "PERSON_AWARE" not in ladder.choosable and "FIRST_FACE_TO_FACE" in ladder.choosable
    assert ladder.hidden == {"PERSON_AWARE"}
    face = ladder.step("FIRST_FACE_TO_FACE")
    assert face is not None and face.rank == MILESTONES.index("FIRST_FACE_TO_FACE")
    assert face.labels == {"ja": "初めて顔を合わせた", "en": "Met in person"} == face.short
    assert ladder.catalogue_text("milestone.FIRST_FACE_TO_FACE", "en") == "Met in person"
    assert ladder.catalogue_text("milestone_short.FIRST_FACE_TO_FACE", "ja") == "初めて顔を合わせた"
    assert ladder.catalogue_text("milestone.PERSON_AWARE", "ja") is None  # hidden, not relabelled
    assert ladder.catalogue_text("outcome.NO_ANSWER", "ja") is None
    setback = ladder.step("SETBACK")
    assert setback is not None and setback.labels["en"] == setback.defaults["en"]  # only ja was changed
    with db_factory() as s:
        assert ladders.for_municipality(s, city) == ladder


def test_a_change_is_audited_by_field_name_and_an_unchanged_save_is_not(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    city = org_id(factory)
    save(db_factory, city, {"REGULAR_CONTACT": {"labels": {"en": "Regular visits"}, "hidden": True}})
    save(db_factory, city, {"REGULAR_CONTACT": {"labels": {"en": "Regular visits"}, "hidden": True}})
    with db_factory() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.ladder")).all()
    assert len(rows) == 1
    assert rows[0].entity_id == str(city) and rows[0].fields == ["REGULAR_CONTACT.hidden", "REGULAR_CONTACT.label_en"]
    assert "Regular visits" not in rows[0].detail


def test_each_city_has_its_own_ladder(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    a, b = org_id(factory, "甲市"), org_id(factory, "乙市")
    save(db_factory, a, {"CONNECTED": {"labels": {"ja": "つながり先が見つかった"}}})
    with db_factory() as s:
        assert ladders.for_municipality(s, a).catalogue_text("milestone.CONNECTED", "ja") == "つながり先が見つかった"
        assert ladders.for_municipality(s, b) == ladders.default()


def test_a_broken_stored_value_falls_back_to_the_defaults(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    city = org_id(factory)
    with db_factory() as s, s.begin():
        s.get_one(Organisation, city).settings = {"milestones": {"NOPE": 1}}
    with db_factory() as s:
        assert ladders.for_municipality(s, city) == ladders.default()


def test_change_step_relabels_one_language_and_puts_the_default_back(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    city = org_id(factory)
    with db_factory() as s, s.begin():
        ladders.change_step(s, None, city, "PLAN_AGREED", labels={"ja": "計画に合意", "en": "Plan signed"})
        ladders.change_step(s, None, city, "PLAN_AGREED", hidden=True)
        ladders.change_step(s, None, city, "PLAN_AGREED", labels={"en": None})
    assert stored(db_factory, city) == {"PLAN_AGREED": {"labels": {"ja": "計画に合意"}, "hidden": True}}
    with db_factory() as s, s.begin(), pytest.raises(ApiError) as caught:
        ladders.change_step(s, None, city, "NOPE", hidden=True)
    assert caught.value.code == "milestone_unknown"


def test_the_derived_stage_does_not_depend_on_labels_or_hidden_steps(
    factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    """A hidden step keeps its rank: an old event on it still counts for the current stage."""
    city = org_id(factory)
    events = [("FAMILY_FIRST_CONTACT", dt.date(2025, 4, 1), AT), ("FIRST_FACE_TO_FACE", dt.date(2025, 5, 1), AT)]
    before = stage_of(events)
    save(db_factory, city, {"FIRST_FACE_TO_FACE": {"labels": {"ja": "対面"}, "hidden": True}})
    assert before == stage_of(events) == "FIRST_FACE_TO_FACE"


# ---- the command line ----


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], tmp_path: Any) -> str:
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    return database_url


def test_cli_show_and_set(
    env: str, factory: Factory, db_factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    city = org_id(factory)
    assert main(["ladder", "set", "FIRST_VOICE_CONTACT", "--label-ja", "言葉を交わした", "--hide"]) == 0
    out = capsys.readouterr().out
    assert "FIRST_VOICE_CONTACT" in out and "*言葉を交わした" in out and "saved" in out
    assert stored(db_factory, city) == {"FIRST_VOICE_CONTACT": {"labels": {"ja": "言葉を交わした"}, "hidden": True}}
    assert main(["ladder", "set", "FIRST_VOICE_CONTACT", "--default-ja", "--show"]) == 0
    assert stored(db_factory, city) == {}
    assert main(["ladder", "show"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "FIRST_VOICE_CONTACT" in x)
    assert "shown" in line and "本人と初めて言葉を交わした（ドア越し可）" in line and "*" not in line
    with db_factory() as s:
        assert len(s.scalars(select(AuditEvent).where(AuditEvent.action == "settings.ladder")).all()) == 2


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["ladder", "set", "PERSON_AWARE", "--label-ja", ""], 1, "label_empty"),
        (["ladder", "set", "PERSON_AWARE", "--label-en", "x" * 41], 1, "label_too_long"),
        (["ladder", "set", "NOPE", "--hide"], 1, "milestone_unknown"),
        (["ladder", "set", "SETBACK", "--hide"], 1, "milestone_not_hideable"),
        (["ladder", "set", "PERSON_AWARE"], 2, "nothing to change"),
        (["ladder", "set", "PERSON_AWARE", "--label-ja", "a", "--default-ja"], 2, "contradict"),
        (["ladder", "show", "--municipality", "どこにもない市"], 1, "municipality_not_found"),
    ],
)
def test_cli_errors_change_nothing(
    env: str,
    factory: Factory,
    db_factory: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    message: str,
) -> None:
    city = org_id(factory)
    assert main(argv) == status
    assert message in capsys.readouterr().err
    assert stored(db_factory, city) is None


def test_cli_hiding_the_last_step_is_refused(
    env: str, factory: Factory, db_factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    city = org_id(factory)
    save(db_factory, city, {m: {"hidden": True} for m in MILESTONES[:-1]})
    assert main(["ladder", "set", MILESTONES[-1], "--hide"]) == 1
    assert "ladder_all_hidden" in capsys.readouterr().err
    assert MILESTONES[-1] not in stored(db_factory, city)


def test_cli_needs_the_name_when_there_are_several_cities(
    env: str, factory: Factory, db_factory: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    org_id(factory, "甲市")
    b = org_id(factory, "乙市")
    assert main(["ladder", "show"]) == 1
    assert "municipality_ambiguous" in capsys.readouterr().err
    assert main(["ladder", "set", "CONNECTED", "--label-en", "Linked up", "--municipality", "乙市"]) == 0
    assert stored(db_factory, b) == {"CONNECTED": {"labels": {"en": "Linked up"}}}


def test_a_long_city_label_is_shortened_on_the_chart_only() -> None:
    from server.views.charts import ladder_chart

    long = "本人と初めて玄関先で顔を合わせて挨拶を交わすことができた"  # 28 characters, within MAX_LABEL
    labels = {"FIRST_FACE_TO_FACE": long}
    chart = ladder_chart(
        [("FIRST_FACE_TO_FACE", dt.date(2025, 5, 1), AT)],
        dt.date(2025, 4, 1),
        dt.date(2025, 6, 1),
        lambda m: labels.get(m, m),
        "ja",
        True,
    )
    rung = next(r.label for r in chart.rungs if r.label.startswith("本人と初めて玄関先"))
    assert rung.endswith("…") and len(rung) <= 19
    assert chart.markers[0].title.endswith(long)  # the full label stays in the marker's title
