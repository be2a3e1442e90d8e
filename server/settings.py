"""Every environment variable Yorisoi reads, declared once, typed, with its default.

`docs/settings.md` documents each of them, and a test fails when one is missing there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PUSH_ORIGINS = (
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://wns2-*.notify.windows.com",
)


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Build one with `Settings.from_env()`; tests build their own.

    `fault_inject` (YORISOI_FAULT_INJECT) is test-only: it exists for the sync fault tests."""

    data_dir: Path = Path("var")
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    session_idle_minutes: int = 8 * 60
    session_absolute_hours: int = 7 * 24
    login_max_failures: int = 5
    login_lock_seconds: int = 300
    log_level: str = "INFO"
    quiet_hours: str = "20:00-08:00"
    push_allowed_origins: tuple[str, ...] = DEFAULT_PUSH_ORIGINS
    push_digest_at: str = ""
    vapid_subject: str = ""
    alert_interval_minutes: int = 15
    default_language: str = "ja"
    # The field app's lock (docs/threat-model.md, "Phone"): idle and background time before the data
    # key leaves memory, and the days without a successful sync after which only an online sign-in
    # unlocks the phone.
    device_idle_lock_minutes: int = 5
    device_background_lock_seconds: int = 60
    device_offline_days: int = 7
    # Passphrase that encrypts `yorisoi backup` files (AES-256-GCM, key from scrypt); empty: plain.
    backup_key: str = field(default="", repr=False)
    # Overload (server/security/admission.py): requests doing their database work at once, password
    # checks at once (argon2: CPU and memory each), and how long a request may wait for its turn
    # before it is answered 503 `server_busy`. The connection pool is sized to hold every request
    # admitted plus the background runner, so waiting happens in the queue and never in the pool.
    max_concurrent_requests: int = 12
    max_concurrent_sign_ins: int = 4
    request_queue_seconds: float = 20.0  # below the field app's shortest timeout (30 s, a sign-in)
    db_pool_size: int = 15
    db_max_overflow: int = 5
    db_pool_timeout_seconds: float = 10.0
    # Server processes (`yorisoi serve`): Python runs one thread at a time per process, so a server
    # with more cores serves more requests at once with more processes. Each has its own pool and
    # admission places.
    workers: int = 1
    # Test-only: a crash point for the sync fault tests ("push_before_commit": the server kills
    # itself with a push applied but not committed; "push_after_commit": committed, not answered).
    # Never set it in production.
    fault_inject: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'yorisoi.sqlite3'}")

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def origin(self) -> str:
        return self.base_url.rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        origins = e.get("YORISOI_PUSH_ALLOWED_ORIGINS")
        return cls(
            data_dir=Path(e.get("YORISOI_DATA_DIR", "var")),
            database_url=e.get("YORISOI_DATABASE_URL", ""),
            base_url=e.get("YORISOI_BASE_URL", "http://127.0.0.1:8000"),
            session_idle_minutes=int(e.get("YORISOI_SESSION_IDLE_MINUTES", 8 * 60)),
            session_absolute_hours=int(e.get("YORISOI_SESSION_ABSOLUTE_HOURS", 7 * 24)),
            login_max_failures=int(e.get("YORISOI_LOGIN_MAX_FAILURES", 5)),
            login_lock_seconds=int(e.get("YORISOI_LOGIN_LOCK_SECONDS", 300)),
            log_level=e.get("YORISOI_LOG_LEVEL", "INFO"),
            quiet_hours=e.get("YORISOI_QUIET_HOURS", "20:00-08:00"),
            push_allowed_origins=(
                tuple(o.strip() for o in origins.split(",") if o.strip())
                if origins is not None
                else DEFAULT_PUSH_ORIGINS
            ),
            push_digest_at=e.get("YORISOI_PUSH_DIGEST_AT", ""),
            vapid_subject=e.get("YORISOI_VAPID_SUBJECT", ""),
            alert_interval_minutes=int(e.get("YORISOI_ALERT_INTERVAL_MINUTES", 15)),
            default_language=e.get("YORISOI_LANGUAGE", "ja"),
            device_idle_lock_minutes=int(e.get("YORISOI_DEVICE_IDLE_LOCK_MINUTES", 5)),
            device_background_lock_seconds=int(e.get("YORISOI_DEVICE_BACKGROUND_LOCK_SECONDS", 60)),
            device_offline_days=int(e.get("YORISOI_DEVICE_OFFLINE_DAYS", 7)),
            backup_key=e.get("YORISOI_BACKUP_KEY", ""),
            max_concurrent_requests=int(e.get("YORISOI_MAX_CONCURRENT_REQUESTS", 12)),
            max_concurrent_sign_ins=int(e.get("YORISOI_MAX_CONCURRENT_SIGN_INS", 4)),
            request_queue_seconds=float(e.get("YORISOI_REQUEST_QUEUE_SECONDS", 20.0)),
            db_pool_size=int(e.get("YORISOI_DB_POOL_SIZE", 15)),
            db_max_overflow=int(e.get("YORISOI_DB_MAX_OVERFLOW", 5)),
            db_pool_timeout_seconds=float(e.get("YORISOI_DB_POOL_TIMEOUT_SECONDS", 10.0)),
            workers=int(e.get("YORISOI_WORKERS", 1)),
            fault_inject=e.get("YORISOI_FAULT_INJECT", ""),
        )
