"""Password hashing (argon2id) and the password policy.

Policy follows NIST SP 800-63B: at least 8 characters, no composition rules, and a list of common
passwords refused.

Hashing: argon2id with m = 46 MiB, t = 1, p = 1 — the first of OWASP's Password Storage Cheat Sheet
configurations (its minimum is 19 MiB, t = 2; the listed ones are equally strong, trading memory
for passes; we take the one with the most memory, which costs a GPU attacker most). Until
2026-11 we used argon2-cffi's default, RFC 9106's second recommended option (64 MiB, t = 3,
p = 4): ≈ 200 ms of CPU per check in four threads, against ≈ 65 ms in one thread now, on the
2-core reference machine. That margin above the recommendation did not pay for itself: every
worker signs in online each morning (sessions end after 8 idle hours), so a 2-core server spent
its whole morning burst hashing (docs/performance.md, "Fixes"), and one thread per check lets
the sign-in gate (server/security/admission.py) bound the cores and memory that sign-ins take.
Hashes made with the old parameters still verify and are replaced at the user's next sign-in
(`needs_rehash`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=1, memory_cost=46 * 1024, parallelism=1)
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


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with other parameters than ours (an older, costlier setting)."""
    try:
        return bool(_hasher.check_needs_rehash(password_hash))
    except InvalidHashError:
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash or _DUMMY_HASH, password)) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
