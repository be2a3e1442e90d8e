"""Password hashing (argon2id) and the password policy.

Policy follows NIST SP 800-63B: at least 8 characters, no composition rules, and a list of common
passwords refused. Hashing uses argon2-cffi's defaults (argon2id, RFC 9106 low-memory profile).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 8
_COMMON = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"

# Verified against when the username is unknown, so a wrong username costs the same time as a
# wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("yorisoi-dummy-password-for-timing")


class PasswordRejected(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@cache
def _common_passwords() -> frozenset[str]:
    lines = _COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordRejected("password_too_short")
    if password.lower() in _common_passwords():
        raise PasswordRejected("password_too_common")


def hash_password(password: str) -> str:
    return str(_hasher.hash(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash or _DUMMY_HASH, password)) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
