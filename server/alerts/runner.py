"""The periodic runner inside the server: evaluates the stall rules every N minutes and sends due
pushes every few seconds, in a background thread started from the app's lifespan.

"Once, even with several server processes": every process runs this thread, but only the holder of
the `alerts.periodic` lease evaluates. The lease is a row (`job_lease`) moved forward with
`UPDATE … WHERE lease_until < now OR holder = me`; the database lets exactly one process win, the
holder renews it each round, and if the holder dies its lease runs out after two intervals and
another process takes over. We chose a lease row over a PostgreSQL advisory lock because it works
the same on SQLite (single-machine installs), needs no connection held open for the lock's
lifetime, and shows in the database who ran last. Two evaluations that overlap anyway (the lease
expiring mid-run, or `yorisoi check-stalled` by hand) are still safe: evaluations serialize on a
row lock, and the unique indexes keep one live alert per case and rule.

The leased pass also brings the dashboard's summary up to date (services/report_summary.py), so
that a dashboard request normally finds it complete, or recomputes only what arrived since.

Pushes are not leased: any process may flush the queue, because rows are claimed one by one.
The first evaluation runs one interval after start, so a restart loop cannot hammer the database.
Errors are logged by type only: exception messages can carry SQL parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from server.alerts.lifecycle import Report, ensure_lease_row, evaluate
from server.alerts.schedule import PushSchedule
from server.db import utcnow
from server.models import JobLease
from server.push import queue
from server.push.delivery import PushSender, WebPushSender
from server.push.vapid import load_or_create
from server.services import report_summary
from server.settings import Settings

log = logging.getLogger("yorisoi.alerts")

LEASE = "alerts.periodic"
Clock = Callable[[], dt.datetime]


def vapid_subject(settings: Settings) -> str:
    if settings.vapid_subject:
        return settings.vapid_subject
    return settings.origin if settings.https else "mailto:yorisoi@localhost"


def make_sender(settings: Settings) -> PushSender:
    return WebPushSender(load_or_create(settings.data_dir), vapid_subject(settings))


def take_lease(session: Session, name: str, holder: str, now: dt.datetime, duration: dt.timedelta) -> bool:
    ensure_lease_row(session, name, now)
    result = session.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.lease_until < now, JobLease.holder == holder))
        .values(holder=holder, lease_until=now + duration, last_run_at=now),
        execution_options={"synchronize_session": False},
    )
    return getattr(result, "rowcount", 0) == 1


class AlertRunner:
    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        *,
        sender: PushSender | None = None,
        now: Clock = utcnow,
        poll_seconds: float = 5.0,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.schedule = PushSchedule.from_settings(settings.quiet_hours, settings.push_digest_at)
        self.interval = dt.timedelta(minutes=settings.alert_interval_minutes)
        self.now = now
        self.poll_seconds = poll_seconds
        self.holder = f"{uuid.uuid4().hex[:12]}"
        self._sender = sender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_evaluation = now() + self.interval

    @property
    def sender(self) -> PushSender:
        if self._sender is None:
            self._sender = make_sender(self.settings)
        return self._sender

    def evaluate_if_leased(self) -> Report | None:
        """One leased evaluation, then the dashboard's summary brought up to date; None when another
        process holds the lease."""
        now = self.now()
        with self.factory() as session, session.begin():
            if not take_lease(session, LEASE, self.holder, now, 2 * self.interval):
                return None
        with self.factory() as session, session.begin():
            report = evaluate(session, now, self.schedule)
            queue.prune(session, now)
        # The dashboard's summary too (the evaluation refreshed the stall rules' facts), in its own
        # transaction: a dashboard then recomputes only what arrived since this pass.
        with self.factory() as session, session.begin():
            report_summary.refresh(session)
        return report

    def flush(self) -> queue.FlushReport:
        return queue.flush(self.factory, self.sender, self.settings.push_allowed_origins, self.now)

    def step(self) -> None:
        """What one wake-up does: send due pushes; evaluate when the interval has passed."""
        try:
            if self.now() >= self._next_evaluation:
                self._next_evaluation = self.now() + self.interval
                self.evaluate_if_leased()
            self.flush()
        except Exception as exc:  # the runner must survive a bad round; the next one retries
            log.error("alert runner round failed (%s)", type(exc).__name__)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.step()

    def start(self) -> None:
        load_or_create(self.settings.data_dir)  # VAPID keys exist from the first start on
        self._thread = threading.Thread(target=self._run, name="yorisoi-alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def start_background(factory: sessionmaker[Session], settings: Settings) -> AlertRunner | None:
    """Start the runner unless switched off (`YORISOI_ALERT_INTERVAL_MINUTES=0`)."""
    if settings.alert_interval_minutes <= 0:
        load_or_create(settings.data_dir)
        return None
    runner = AlertRunner(factory, settings)
    runner.start()
    return runner
