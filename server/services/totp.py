"""Two-factor sign-in with TOTP (RFC 6238) and one-time recovery codes.

Threat: a stolen or guessed password alone opens an office account that sees many cases. TOTP is
required for coordinators, supervisors and admins and offered to workers. A code is accepted once
(the last used time step is remembered, so a shoulder-surfed code cannot be replayed), within one
step of clock drift either way. Recovery codes are stored as SHA-256 hashes and work once each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import pyotp
import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import utcnow
from server.models import RecoveryCode, User
from server.vocab import Role

REQUIRED_ROLES = frozenset({Role.COORDINATOR, Role.SUPERVISOR, Role.ADMIN})
ISSUER = "Yorisoi"
RECOVERY_CODES = 10
STEP = 30


def required_for(user: User) -> bool:
    return user.role in REQUIRED_ROLES


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(username: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The otpauth URI as a QR code, as an SVG data URI (the CSP allows data: images, no script)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5))


def enrol(user: User, secret: str | None = None) -> str:
    """Set the user's TOTP secret directly (command line); returns the otpauth URI."""
    user.totp_secret = secret or new_secret()
    user.totp_pending_secret = None
    user.totp_last_step = None
    return provisioning_uri(user.username, user.totp_secret)


def start_enrolment(user: User) -> str:
    """Browser enrolment step 1: a pending secret, confirmed by a first valid code."""
    user.totp_pending_secret = new_secret()
    return provisioning_uri(user.username, user.totp_pending_secret)


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    step = int(now.timestamp()) // STEP
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.at(candidate * STEP), code):
            return candidate
    return None


def confirm_enrolment(session: Session, user: User, code: str, now: dt.datetime | None = None) -> list[str] | None:
    """Browser enrolment step 2: a valid code makes the pending secret active; returns new recovery codes."""
    if user.totp_pending_secret is None:
        return None
    step = _matching_step(user.totp_pending_secret, code.strip(), now or utcnow())
    if step is None:
        return None
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = user.totp_pending_secret, None, step
    return issue_recovery_codes(session, user)


def verify(session: Session, user: User, code: str, now: dt.datetime | None = None) -> bool:
    """A current TOTP code not used before, or an unused recovery code."""
    code = code.strip().replace(" ", "")
    if user.totp_secret is None:
        return False
    step = _matching_step(user.totp_secret, code, now or utcnow())
    if step is not None:
        if user.totp_last_step is not None and step <= user.totp_last_step:
            return False  # already used (or older than one used): a code works once
        user.totp_last_step = step
        return True
    return _use_recovery_code(session, user, code)


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).digest()


def issue_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes with ten fresh ones; shown once, stored only hashed."""
    for old in session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)):
        session.delete(old)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 40 bits
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_hash(raw)))
    return codes


def _use_recovery_code(session: Session, user: User, code: str) -> bool:
    if len(code.replace("-", "")) != 10:
        return False
    row = session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code), RecoveryCode.used_at.is_(None)
        )
    )
    if row is None:
        return False
    row.used_at = utcnow()
    return True
