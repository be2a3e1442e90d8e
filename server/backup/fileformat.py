"""The backup file: gzip-compressed JSON lines, optionally sealed by `crypto` — one portable format
for SQLite and PostgreSQL, so a backup of one engine restores into the other.

    {"format": "yorisoi-backup", "version": 1, "revision": "0005", "created_at": …, "engine": …}
    {"table": "organisation", "columns": ["id", …]}
    ["0b6f…", …]                 one JSON array per row, in primary-key order
    {"end": "organisation", "rows": 3}
    …                            every table, parents before children (foreign-key order)
    {"done": true, "counts": {"organisation": 3, …}}

Values are JSON; uuids, datetimes (ISO 8601, UTC), dates and bytes (base64) are strings, turned
back into their types by the column types of the restoring code.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import JSON, Date, DateTime, LargeBinary, Uuid
from sqlalchemy.types import TypeDecorator, TypeEngine

from server.backup.crypto import MAGIC, BackupError, DecryptingReader, EncryptingWriter

FORMAT = "yorisoi-backup"
VERSION = 1


def encode(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def decoder(type_: TypeEngine[Any]) -> Any:
    """A function turning the JSON value back into what the column type binds."""
    impl = type_.impl if isinstance(type_, TypeDecorator) else type_
    if isinstance(impl, Uuid):
        return lambda v: None if v is None else uuid.UUID(v)
    if isinstance(impl, DateTime):
        return lambda v: None if v is None else _datetime(v)
    if isinstance(impl, Date):
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if isinstance(impl, LargeBinary):
        return lambda v: None if v is None else base64.b64decode(v)
    if isinstance(impl, JSON):
        return lambda v: v
    return lambda v: v


def _datetime(v: str) -> dt.datetime:
    d = dt.datetime.fromisoformat(v)
    return d if d.tzinfo else d.replace(tzinfo=dt.UTC)


class Writer:
    """Writes the lines; `close()` finishes gzip and the final encrypted frame."""

    def __init__(self, path: Path, key: str) -> None:
        # Readable by the service user only: a plain backup is the whole municipality's case data.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._raw: IO[bytes] = os.fdopen(fd, "wb")
        self._sealer: EncryptingWriter | None = EncryptingWriter(self._raw, key) if key else None
        target: IO[bytes] = self._sealer if self._sealer is not None else self._raw  # type: ignore[assignment]
        self._gz = gzip.GzipFile(fileobj=target, mode="wb", compresslevel=6, mtime=0)
        self._text = io.TextIOWrapper(self._gz, encoding="utf-8", newline="\n")

    def line(self, obj: Any) -> None:
        self._text.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        self._text.write("\n")

    def close(self) -> None:
        self._text.close()  # closes gzip, which flushes into the sealer
        if self._sealer is not None:
            self._sealer.close()
        self._raw.close()


@contextmanager
def lines(path: Path, key: str) -> Iterator[Iterator[Any]]:
    """Iterate the decoded lines of a backup (plain or encrypted)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BackupError(f"cannot open the backup file ({exc.strerror})") from None
    try:
        head = raw.read(len(MAGIC))
        raw.seek(0)
        src: IO[bytes]
        if head == MAGIC:
            if not key:
                raise BackupError("this backup is encrypted: set YORISOI_BACKUP_KEY to restore it")
            src = io.BufferedReader(DecryptingReader(raw, key), buffer_size=1 << 16)
        elif head[:2] == b"\x1f\x8b":
            src = raw
        else:
            raise BackupError("not a Yorisoi backup file")
        gz = gzip.GzipFile(fileobj=src, mode="rb")
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="\n")
        yield _parse(text)
    finally:
        raw.close()


def _parse(text: IO[str]) -> Iterator[Any]:
    try:
        for ln in text:
            yield json.loads(ln)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        # gzip's CRC and length checks; a damaged plain file lands here
        raise BackupError(f"the backup file is damaged ({type(exc).__name__})") from None


def check(path: Path, key: str) -> dict[str, Any]:
    """Read the whole file once — every frame authenticated, gzip's checksum, the structure and the
    row counts — before anything is restored. Returns the header."""
    with lines(path, key) as it:
        header = next(it, None)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise BackupError("not a Yorisoi backup file")
        if header.get("version") != VERSION:
            raise BackupError(f"backup format version {header.get('version')} is not supported")
        counts: dict[str, int] = {}
        table: str | None = None
        for obj in it:
            if isinstance(obj, list):
                if table is None:
                    raise BackupError("the backup file is damaged (row outside a table)")
                counts[table] += 1
            elif "table" in obj:
                table = obj["table"]
                counts[str(table)] = 0
            elif "end" in obj:
                if obj["end"] != table or obj["rows"] != counts.get(table or ""):
                    raise BackupError("the backup file is damaged (row count mismatch)")
                table = None
            elif obj.get("done"):
                if obj.get("counts") != counts:
                    raise BackupError("the backup file is damaged (table list mismatch)")
                for _extra in it:  # reading to the end makes gzip check its CRC and length
                    raise BackupError("the backup file has data after its end")
                header["counts"] = counts
                return header
        raise BackupError("the backup file is cut short")
