"""The request envelopes of push and pull, and their limits.

A bad envelope is the client's bug, not a record's: it answers 400 (`invalid_envelope`, with the
field) and nothing is applied. Too much at once answers 413 (`too_many_mutations`; the 2 MB body
limit is enforced before parsing, `payload_too_large`). Bad *arguments* of one mutation are not an
envelope error: that mutation alone is rejected (sync.fields).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.errors import ApiError
from sync import SCHEMA_VERSION
from sync.fields import Rejected, parse_datetime

MAX_MUTATIONS = 500
MAX_NAME = 40
MAX_OUTBOX = 1_000_000
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


@dataclass(frozen=True)
class MutationIn:
    mid: int
    name: str
    args: dict[str, Any]
    client_time: dt.datetime | None


@dataclass(frozen=True)
class PushRequest:
    client_id: uuid.UUID
    mutations: list[MutationIn]
    outbox_depth: int | None


@dataclass(frozen=True)
class PullRequest:
    client_id: uuid.UUID | None
    cursor: str
    limit: int
    outbox_depth: int | None


def _digits(text: str, max_len: int) -> bool:
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


def _bad(field: str) -> ApiError:
    return ApiError(400, "invalid_envelope", field=field)


def _client_id(value: Any) -> uuid.UUID:
    if not isinstance(value, str) or len(value) > 40:
        raise _bad("client_id")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise _bad("client_id") from exc


def _outbox_depth(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and _digits(value, 7):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OUTBOX:
        raise _bad("outbox_depth")
    return value


def parse_push(data: Any) -> PushRequest:
    if not isinstance(data, dict):
        raise ApiError(400, "malformed_json")
    client_id = _client_id(data.get("client_id"))
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _bad("schema_version")
    if version != SCHEMA_VERSION:
        raise ApiError(400, "unsupported_schema_version", field="schema_version")
    raw = data.get("mutations")
    if not isinstance(raw, list):
        raise _bad("mutations")
    if len(raw) > MAX_MUTATIONS:
        raise ApiError(413, "too_many_mutations", field="mutations")
    mutations: list[MutationIn] = []
    for i, item in enumerate(raw):
        where = f"mutations[{i}]"
        if not isinstance(item, dict):
            raise _bad(where)
        mid, name, args = item.get("mid"), item.get("name"), item.get("args")
        if isinstance(mid, bool) or not isinstance(mid, int) or mid < 1 or mid >= 1 << 62:
            raise _bad(f"{where}.mid")
        if mutations and mid <= mutations[-1].mid:
            raise _bad(f"{where}.mid")  # a batch lists mids in increasing order
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise _bad(f"{where}.name")
        if not isinstance(args, dict):
            raise _bad(f"{where}.args")
        client_time = None
        if item.get("client_time") is not None:
            try:
                client_time = parse_datetime(item["client_time"], "client_time")
            except Rejected as exc:
                raise _bad(f"{where}.client_time") from exc
        mutations.append(MutationIn(mid=mid, name=name, args=args, client_time=client_time))
    return PushRequest(client_id=client_id, mutations=mutations, outbox_depth=_outbox_depth(data.get("outbox_depth")))


def parse_pull(query: Mapping[str, str], session_device: uuid.UUID | None) -> PullRequest:
    """`client_id` may be left out when the session was opened with the device's id."""
    client_id = _client_id(query["client_id"]) if query.get("client_id") else session_device
    limit_text = query.get("limit") or str(DEFAULT_LIMIT)
    if not _digits(limit_text, 4) or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise _bad("limit")
    return PullRequest(
        client_id=client_id,
        cursor=query.get("cursor") or "",
        limit=int(limit_text),
        outbox_depth=_outbox_depth(query.get("outbox_depth")),
    )
