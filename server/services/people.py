"""How a person is written out as JSON — one shape for sync, the disclosure export and the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.models import Person


def iso(value: dt.date | dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def person_json(p: Person) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "family_name": p.family_name,
        "given_name": p.given_name,
        "family_name_kana": p.family_name_kana,
        "given_name_kana": p.given_name_kana,
        "preferred_name": p.preferred_name,
        "birth_date": iso(p.birth_date),
        "birth_year": p.birth_year,
        "phone": p.phone,
    }
