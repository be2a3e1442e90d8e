"""Password hashing (argon2id) and the password policy.

Policy follows NIST SP 800-63B: at least 8 characters, no composition rules, and a list of common
passwords refused.

Hashing: argon2id with m = 19 MiB, t = 2, p = 1 — OWASP's Password Storage Cheat Sheet minimum
configuration. OWASP lists it with 46 MiB × 1 pass and others as equally strong (memory traded for
passes); an attacker's cost per guess goes with memory × passes (38 vs 46 MiB-passes), ours
also with the fresh memory the kernel zeroes for each check, so on the 2-core reference machine
19 MiB × 2 costs ≈ 21 ms of one core per check against ≈ 53 ms for 46 MiB × 1 (measured
2026-11-27, ten checks each). Until then we used argon2-cffi's default, RFC 9106's second
recommended option (64 MiB, t = 3, p = 4): ≈ 175 ms of CPU per check over four threads. That
margin above the recommendation did not pay for itself: every worker signs in online each
morning (sessions end after 8 idle hours), so a 2-core server spent its morning burst hashing
(docs/performance.md, "Fixes"); and one thread per check lets the sign-in lane
(server/security/admission.py) bound the cores and memory that sign-ins take. Hashes made with
other parameters still verify and are replaced at the user's next sign-in (`needs_rehash`).

Every hash and check runs on a few threads of its own (`use_threads`; the server sets one per
core, at most one per sign-in place). Not for speed — the request's thread would wait either way —
but for memory: glibc keeps the freed 19 MiB in the malloc arena of the thread that hashed, so with
checks on any of the 40 request threads the server grew by 19 MiB for every thread that ever
checked a password (measured: 14 threads, +266 MiB); on dedicated threads it is theirs only.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
_threads_size = 2
_threads_lock = threading.Lock()
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


def use_threads(count: int) -> None:
    """Hash and check passwords on `count` threads (at least one)."""
    global _threads, _threads_size
    count = max(1, count)
    with _threads_lock:
        if count != _threads_size:
            old, _threads, _threads_size = _threads, ThreadPoolExecutor(count, thread_name_prefix="argon2"), count
            old.shutdown(wait=False)  # checks already submitted still finish


def hash_password(password: str) -> str:
    return str(_threads.submit(_hasher.hash, password).result())


def needs_rehash(password_hash: str) -> bool:
    """The hash was made with other parameters than ours (an older, costlier setting)."""
    try:
        return bool(_hasher.check_needs_rehash(password_hash))
    except InvalidHashError:
        return False


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash or _DUMMY_HASH, password)) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    return _threads.submit(_verify, password_hash, password).result()
