"""Backup encryption: AES-256-GCM in authenticated chunks, so a backup of any size streams.

Threat: a backup file is the whole municipality's case data; it is copied to other disks, other
buildings, sometimes a contractor's storage. With `YORISOI_BACKUP_KEY` set, a stolen file reveals
nothing, and a changed, reordered, truncated or extended file is refused before anything is restored.

File layout:  MAGIC | salt (16) | nonce prefix (8) | frames…
Each frame:   flags (1) | length (4, big-endian) | ciphertext+tag (length bytes)
The key is scrypt(passphrase, salt). Frame i is sealed with nonce = prefix || i (4 bytes) and
associated data = MAGIC | salt | prefix | i | flags, so frames cannot be moved, dropped or
duplicated; the last frame carries flags=1, so cutting the file short is detected.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"YORISOI-BACKUP-AESGCM-1\n"
CHUNK = 1 << 20  # plaintext bytes per frame
_FINAL = 1
_MAX_FRAME = CHUNK + 16


class BackupError(Exception):
    """A backup cannot be written or read; the message is safe to print (no personal data)."""


def derive_key(passphrase: str, salt: bytes) -> bytes:
    if not passphrase:
        raise BackupError("the backup key is empty")
    # scrypt: a stolen backup cannot be opened by guessing a weak passphrase quickly.
    return hashlib.scrypt(passphrase.encode(), salt=salt, n=2**15, r=8, p=1, maxmem=64 * 1024 * 1024, dklen=32)


class EncryptingWriter(io.RawIOBase):
    """A write-only stream that seals what is written into frames on `out`."""

    def __init__(self, out: IO[bytes], passphrase: str) -> None:
        super().__init__()
        self._out = out
        self._salt = os.urandom(16)
        self._prefix = os.urandom(8)
        self._aead = AESGCM(derive_key(passphrase, self._salt))
        self._buf = bytearray()
        self._index = 0
        out.write(MAGIC + self._salt + self._prefix)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buf += data
        while len(self._buf) > CHUNK:
            self._seal(bytes(self._buf[:CHUNK]), 0)
            del self._buf[:CHUNK]
        return len(data)

    def _seal(self, plain: bytes, flags: int) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        aad = MAGIC + self._salt + self._prefix + struct.pack(">IB", self._index, flags)
        sealed = self._aead.encrypt(nonce, plain, aad)
        self._out.write(struct.pack(">BI", flags, len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buf), _FINAL)
            self._buf.clear()
            self._out.flush()
        super().close()


class DecryptingReader(io.RawIOBase):
    """A read-only stream of the plaintext; raises BackupError on a wrong key or any change."""

    def __init__(self, src: IO[bytes], passphrase: str) -> None:
        super().__init__()
        self._src = src
        if src.read(len(MAGIC)) != MAGIC:
            raise BackupError("not an encrypted Yorisoi backup")
        self._salt = src.read(16)
        self._prefix = src.read(8)
        if len(self._salt) != 16 or len(self._prefix) != 8:
            raise BackupError("the backup file is cut short")
        self._aead = AESGCM(derive_key(passphrase, self._salt))
        self._index = 0
        self._buf = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_frame(self) -> None:
        head = self._src.read(5)
        if len(head) < 5:
            raise BackupError("the backup file is cut short (no final frame)")
        flags, length = struct.unpack(">BI", head)
        if flags not in (0, _FINAL) or length > _MAX_FRAME:
            raise BackupError("the backup file is damaged or was changed")
        sealed = self._src.read(length)
        if len(sealed) != length:
            raise BackupError("the backup file is cut short")
        nonce = self._prefix + struct.pack(">I", self._index)
        aad = MAGIC + self._salt + self._prefix + struct.pack(">IB", self._index, flags)
        try:
            self._buf, self._pos = self._aead.decrypt(nonce, sealed, aad), 0
        except InvalidTag:
            if self._index == 0:
                msg = "the backup key does not open this backup (wrong key, or the file was changed)"
                raise BackupError(msg) from None
            raise BackupError("the backup file was changed or damaged (authentication failed)") from None
        self._index += 1
        if flags == _FINAL:
            if self._src.read(1):
                raise BackupError("the backup file has data after its final frame")
            self._done = True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf) and not self._done:
            self._next_frame()
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


def is_encrypted(path_head: bytes) -> bool:
    return path_head.startswith(MAGIC[:15])
