"""The server's VAPID key pair (RFC 8292): generated at first start, kept under YORISOI_DATA_DIR.

Threat: whoever holds the private key can push to every subscribed phone in the name of Yorisoi.
The key file is created with mode 0600 (readable by the service user only) in a folder created with
mode 0700, and never logged. Several server processes may start at once: the key is written to a
private temporary file and hard-linked into place, which fails instead of overwriting when another
process won the race, so everyone ends up with the same key.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger("yorisoi.push")

KEY_FILE = "vapid_private.pem"
_lock = threading.Lock()
_cache: dict[str, VapidKey] = {}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class VapidKey:
    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def application_server_key(self) -> str:
        """The public key as the browser's `applicationServerKey` wants it: base64url, uncompressed point."""
        raw = self.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return b64url(raw)


def _write_new(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("generated a new VAPID key pair")
        except FileExistsError:
            pass  # another process was first: use its key
    finally:
        tmp.unlink(missing_ok=True)


def load_or_create(data_dir: Path) -> VapidKey:
    """The key pair, created on first use. Cached per process."""
    path = (data_dir / KEY_FILE).resolve()
    with _lock:
        cached = _cache.get(str(path))
        if cached is not None:
            return cached
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            _write_new(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)
            log.warning("the VAPID key file was readable by others; its mode is now 0600")
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(loaded.curve, ec.SECP256R1):
            raise ValueError(f"{KEY_FILE} in the data folder is not a P-256 private key")
        key = VapidKey(loaded)
        _cache[str(path)] = key
        return key
