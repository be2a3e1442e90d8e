"""The pull's answer is encoded by orjson from UUID, date and datetime values (sync.serialize keeps
them as they come from the database): the text must be what `str()` and `isoformat()` give, which
the field app and sync/PROTOCOL.md expect."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from server.views.base import FastJSONResponse
from sync import serialize


def _standard(value: object) -> bytes:
    def default(v: object) -> str:
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, dt.date | dt.datetime):
            return v.isoformat()
        raise TypeError(type(v))

    return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":")).encode()


@given(
    st.uuids(),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)),
    st.dates(),
    st.text(),
)
def test_encodes_ids_dates_and_times_as_str_and_isoformat_would(
    id_: uuid.UUID, at: dt.datetime, day: dt.date, text: str
) -> None:
    value = {"id": id_, "at": at, "whole_second": at.replace(microsecond=0), "day": day, "text": text, "n": None}
    assert FastJSONResponse(value).body == _standard(value)


def test_a_pulled_contact_is_the_same_json_as_before() -> None:
    # JSON columns arrive as their text (sync.serialize.read_as): visitor_ids NULL, risk_flags a list
    row = (
        uuid.UUID("5591d9cd-ef72-43c5-9dc6-07ef47c75a13"), uuid.UUID("3a266ccc-001b-46f6-b6d4-1930b5cb42fa"), None,
        dt.datetime(2026, 11, 27, 5, 30, tzinfo=dt.UTC), "HOME_VISIT", "PERSON", "MET_PERSON", "person", None, 30,
        None, '["SELF_HARM"]', "玄関先で話しました「次回」\n", "", dt.date(2026, 12, 1), "INTERNAL_ONLY",
        uuid.UUID("11111111-2222-4333-8444-555555555555"), dt.datetime(2026, 11, 27, 5, 31, 2, 5, tzinfo=dt.UTC),
    )  # fmt: skip
    body = json.loads(bytes(FastJSONResponse(serialize.contact(row)).body))
    assert body["id"] == "5591d9cd-ef72-43c5-9dc6-07ef47c75a13"
    assert body["amends_id"] is None
    assert body["occurred_at"] == "2026-11-27T05:30:00+00:00"
    assert body["received_at"] == "2026-11-27T05:31:02.000005+00:00"
    assert body["next_action_due"] == "2026-12-01"
    assert body["visitor_ids"] == [] and body["risk_flags"] == ["SELF_HARM"]
    assert body["notes"] == "玄関先で話しました「次回」\n"


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
)


@given(_JSON_VALUES)
def test_a_json_column_read_as_text_is_what_the_driver_gave(value: object) -> None:
    """The pull reads JSON columns as their text and parses it with orjson (sync.serialize._json):
    the same value as the driver's json.loads of the text SQLAlchemy stored (json.dumps)."""
    text = json.dumps(value)
    assert serialize._json(text) == json.loads(text)
    assert serialize._json(None) is None


def test_a_json_column_that_orjson_refuses_reads_as_json_loads_does() -> None:
    assert serialize._json('["\\ud800"]') == ["\ud800"]  # a lone surrogate: json.loads keeps it
