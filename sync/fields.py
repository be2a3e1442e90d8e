"""Validation of mutation arguments. A bad argument rejects the mutation with a code and the name
of the field (`error.field`, dotted for nested objects: `person.family_name`).

Codes: `field_required`, `field_invalid` (wrong type or shape), `field_too_long`,
`value_not_allowed` (not one of the vocabulary's ids), `field_unknown` (an argument this mutation
does not take — a typo on the phone must not silently drop data).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable
from typing import Any


class Rejected(Exception):
    """The mutation can never succeed as sent: answered `rejected`, kept for review."""

    def __init__(self, code: str, field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.field = field


_MISSING = object()


class Args:
    """Typed access to a mutation's arguments, rejecting on the first bad one."""

    def __init__(self, data: dict[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix
        for key in data:
            if key not in allowed:
                raise Rejected("field_unknown", prefix + key)

    def name(self, key: str) -> str:
        return self.prefix + key

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise Rejected("field_required", self.name(key))
            return None
        return value

    def uid(self, key: str, required: bool = True) -> uuid.UUID | None:
        value = self._get(key, required)
        if value is None:
            return None
        return parse_uuid(value, self.name(key))

    def req_uuid(self, key: str) -> uuid.UUID:
        return parse_uuid(self._get(key, True), self.name(key))

    def text(self, key: str, max_len: int, required: bool = False, default: str = "") -> str:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise Rejected("field_invalid", self.name(key))
        if len(value) > max_len:
            raise Rejected("field_too_long", self.name(key))
        if required and not value.strip():
            raise Rejected("field_required", self.name(key))
        return value

    def choice(self, key: str, allowed: Collection[str], required: bool = True) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        return parse_choice(value, allowed, self.name(key))

    def req_choice(self, key: str, allowed: Collection[str]) -> str:
        return parse_choice(self._get(key, True), allowed, self.name(key))

    def choices(self, key: str, allowed: Collection[str], max_items: int = 50) -> list[str]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > max_items:
            raise Rejected("field_invalid", self.name(key))
        for item in value:
            if not isinstance(item, str):
                raise Rejected("field_invalid", self.name(key))
            if item not in allowed:
                raise Rejected("value_not_allowed", self.name(key))
        return list(dict.fromkeys(value))

    def texts(self, key: str, max_len: int, max_items: int = 50) -> list[str]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > max_items:
            raise Rejected("field_invalid", self.name(key))
        if not all(isinstance(v, str) for v in value):
            raise Rejected("field_invalid", self.name(key))
        if any(len(v) > max_len for v in value):
            raise Rejected("field_too_long", self.name(key))
        return list(dict.fromkeys(value))

    def uids(self, key: str, max_items: int = 20) -> list[uuid.UUID]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > max_items:
            raise Rejected("field_invalid", self.name(key))
        return list(dict.fromkeys(parse_uuid(v, self.name(key)) for v in value))

    def integer(self, key: str, low: int, high: int, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Rejected("field_invalid", self.name(key))
        return value

    def req_integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key, True)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Rejected("field_invalid", self.name(key))
        return value

    def req_obj(self, key: str, allowed: Iterable[str]) -> Args:
        value = self._get(key, True)
        if not isinstance(value, dict):
            raise Rejected("field_invalid", self.name(key))
        return Args(value, allowed, prefix=self.name(key) + ".")

    def boolean(self, key: str, required: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise Rejected("field_invalid", self.name(key))
        return value

    def date(self, key: str, required: bool = False) -> dt.date | None:
        value = self._get(key, required)
        if value is None:
            return None
        return parse_date(value, self.name(key))

    def req_date(self, key: str) -> dt.date:
        return parse_date(self._get(key, True), self.name(key))

    def datetime(self, key: str, required: bool = False) -> dt.datetime | None:
        value = self._get(key, required)
        if value is None:
            return None
        return parse_datetime(value, self.name(key))

    def req_datetime(self, key: str) -> dt.datetime:
        return parse_datetime(self._get(key, True), self.name(key))

    def obj(self, key: str, allowed: Iterable[str], required: bool = False) -> Args | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise Rejected("field_invalid", self.name(key))
        return Args(value, allowed, prefix=self.name(key) + ".")


def parse_choice(value: Any, allowed: Collection[str], field: str) -> str:
    if not isinstance(value, str):
        raise Rejected("field_invalid", field)
    if value not in allowed:
        raise Rejected("value_not_allowed", field)
    return value


def parse_uuid(value: Any, field: str) -> uuid.UUID:
    if not isinstance(value, str) or len(value) > 40:
        raise Rejected("field_invalid", field)
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Rejected("field_invalid", field) from exc


def parse_date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str) or len(value) != 10:
        raise Rejected("field_invalid", field)
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise Rejected("field_invalid", field) from exc


def parse_datetime(value: Any, field: str) -> dt.datetime:
    """An ISO 8601 date and time *with* an offset: a naive time would shift a visit by nine hours."""
    if not isinstance(value, str) or len(value) > 40:
        raise Rejected("field_invalid", field)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError as exc:
        raise Rejected("field_invalid", field) from exc
    if parsed.tzinfo is None:
        raise Rejected("field_invalid", field)
    return parsed.astimezone(dt.UTC)
