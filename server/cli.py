"""The `yorisoi` command line. Bad arguments print a clear message and exit non-zero, and a failed
command leaves nothing half-created (each command is one transaction)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from server import cli_ladder, collector
from server.db import make_engine
from server.errors import ApiError
from server.services import totp
from server.settings import Settings

log = logging.getLogger("yorisoi")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextlib.contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server import migrate

    with _engine(settings) as engine:
        migrate.upgrade(engine)
        migrate.refresh_kept(engine)  # the derived tables too: no request or evaluation builds them
    print("database is at the newest schema")
    return 0


def cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    from server.services import users

    if not args.password_stdin:
        print("error: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    with _engine(settings) as engine, Session(engine) as session, session.begin():
        user = users.create_user(
            session,
            None,
            username=args.username,
            role=args.role,
            team_name=args.team,
            password=password,
            display_name=args.display_name,
        )
        print(f"created user {user.username} ({user.role})")
        if totp.required_for(user):
            uri = totp.enrol(user)
            codes = totp.issue_recovery_codes(session, user)
            print("two-factor sign-in is required for this role; add this to an authenticator app:")
            print(f"  {uri}")
            print("recovery codes (each works once; give them to the user privately):")
            print("  " + "  ".join(codes))
    return 0


def cmd_reset_totp(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from server.models import User
    from server.services import audit

    with _engine(settings) as engine, Session(engine) as session, session.begin():
        user = session.scalar(select(User).where(User.username == args.username))
        if user is None:
            print(f"error: no user {args.username}", file=sys.stderr)
            return 1
        uri = totp.enrol(user)
        codes = totp.issue_recovery_codes(session, user)
        audit.record(session, None, "user.totp_reset", entity="user", entity_id=user.id)
        print(f"  {uri}")
        print("recovery codes: " + "  ".join(codes))
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import func, select

    from server.models import AuditEvent
    from server.services import audit

    with _engine(settings) as engine, Session(engine) as session:
        breaks = list(audit.verify(session))
        total = session.scalar(select(func.count()).select_from(AuditEvent))
    for b in breaks[:50]:
        print(f"audit chain broken at seq {b.seq}: {b.problem}", file=sys.stderr)
    if breaks:
        print(f"audit log: {len(breaks)} problem(s) in {total} rows", file=sys.stderr)
        return 1
    print(f"audit log intact: {total} rows")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from server.alerts.commands import check_stalled
    from server.demo import load_demo

    with _engine(settings) as engine:
        with Session(engine) as session, session.begin():
            summary = load_demo(session)
        if summary.created:
            # Evaluate the stall rules once, so the demo's dashboard and alert lists are not empty
            # until the server's first periodic run. No pushes: nobody has subscribed yet.
            lines: list[str] = []
            check_stalled(engine, settings, lines.append, send=False)
    if summary.created:
        print("demo municipality loaded; " + (lines[-1] if lines else ""))
    else:
        print("demo municipality already present; nothing changed")
    print(f"demo sign-ins (password for all: {summary.password}):")
    for username, role, team in summary.users:
        print(f"  {username:<10} {role:<12} {team}")
    print("coordinators, supervisors and the admin also need a 確認コード (two-factor code):")
    print("  .venv/bin/yorisoi demo-code coord1    (prints the current code for a demo user)")
    return 0


def cmd_demo_code(args: argparse.Namespace, settings: Settings) -> int:
    import pyotp

    from server.demo import demo_totp_secret, is_demo_user

    with _engine(settings) as engine, Session(engine) as session:
        if not is_demo_user(session, args.username):
            print(f"error: {args.username} is not a demo user", file=sys.stderr)
            return 1
    print(pyotp.TOTP(demo_totp_secret(args.username)).now())
    return 0


def cmd_check_stalled(args: argparse.Namespace, settings: Settings) -> int:
    import datetime as dt

    from server.alerts.commands import check_stalled

    now = None
    if args.now:
        try:
            now = dt.datetime.fromisoformat(args.now)
        except ValueError:
            now = None
        if now is None or now.tzinfo is None:
            print("error: --now needs an ISO 8601 time with its offset, e.g. 2025-06-01T09:00+09:00", file=sys.stderr)
            return 2
    with _engine(settings) as engine:
        check_stalled(engine, settings, print, now=now, dry_run=args.dry_run, send=not args.no_push)
    return 0


def cmd_push_vapid_key(args: argparse.Namespace, settings: Settings) -> int:
    from server.alerts.commands import vapid_key

    vapid_key(settings, print)
    return 0


def cmd_push_send(args: argparse.Namespace, settings: Settings) -> int:
    from server.alerts.commands import push_send

    with _engine(settings) as engine:
        push_send(engine, settings, print)
    return 0


def _when(value: object) -> str:
    import datetime as dt

    from server.i18n.dates import TOKYO

    if not isinstance(value, dt.datetime):
        return "-"
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


def cmd_devices(args: argparse.Namespace, settings: Settings) -> int:
    from server.services import devices

    with _engine(settings) as engine, Session(engine) as session, session.begin():
        user = devices.find_user(session, None, args.user)
        rows = devices.list_devices(session, None, user)
        if not rows:
            print(f"{user.username} has no devices")
            return 0
        print(f"{'device id':<36}  {'last sync (JST)':<16}  {'outbox':>6}  {'registered':<16}  state")
        for row in rows:
            d = row.device
            state = f"revoked {_when(d.revoked_at)}" if d.revoked_at else "active"
            print(f"{d.id!s:<36}  {_when(d.last_sync_at):<16}  {d.outbox_depth:>6}  {_when(d.created_at):<16}  {state}")
    return 0


def cmd_revoke_device(args: argparse.Namespace, settings: Settings) -> int:
    from server.services import devices

    with _engine(settings) as engine, Session(engine) as session, session.begin():
        done = devices.revoke(session, None, devices.parse_device_id(args.device_id))
        print(
            f"revoked device {done.device.id}: {done.sessions_ended} session(s) and "
            f"{done.subscriptions_ended} push subscription(s) ended, its wrapping key deleted"
        )
        print("the app erases its data at its next contact with the server")
        if done.device.outbox_depth:
            print(f"note: it last reported {done.device.outbox_depth} unsent record(s); those are lost with it")
    return 0


def cmd_device_exposure(args: argparse.Namespace, settings: Settings) -> int:
    from server.services import device_exposure, devices

    with _engine(settings) as engine, Session(engine) as session, session.begin():
        found = device_exposure.exposure(session, None, devices.parse_device_id(args.device_id))
        d = found.device
        state = f"revoked {_when(d.revoked_at)}" if d.revoked_at else "active"
        print(f"device {d.id} of {found.user.username} ({state}, last sync {_when(d.last_sync_at)} JST)")
        people = {p.person.id for p in found.persons}
        print(
            f"held records of {len(people)} person(s) in {len(found.cases)} case(s), "
            "from the sync log (pulls sent to it, mutations pushed from it)"
        )
        if found.persons:
            print(f"{'person id':<36}  {'name':<20}  {'relation':<16}  {'case id':<36}  first held → last held (JST)")
        for h in found.persons:
            p = h.person
            name = " ".join(x for x in (p.family_name, p.given_name) if x)
            print(
                f"{p.id!s:<36}  {name:<20}  {h.relation:<16}  {h.case_id!s:<36}  "
                f"{_when(h.first_at)} → {_when(h.last_at)}"
            )
        print("household members and care relations are as recorded now")
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from server.backup import BackupError, backup

    path = Path(args.file)
    if path.exists() and not args.overwrite:
        print(f"error: {path} exists; add --overwrite to replace it", file=sys.stderr)
        return 2
    if not settings.backup_key:
        print("warning: YORISOI_BACKUP_KEY is not set: this backup is NOT encrypted", file=sys.stderr)
    if settings.database_url.startswith("sqlite:///"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A deferred read transaction on SQLite: the app keeps writing while the snapshot is read.
    engine = make_engine(settings.database_url, sqlite_immediate=False)
    try:
        report = backup(engine, path, settings.backup_key)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    kind = "encrypted" if report.encrypted else "plain"
    print(
        f"backup written: {path} ({kind}, {report.size} bytes, {sum(report.counts.values())} rows "
        f"in {len(report.counts)} tables, schema {report.revision}, {report.seconds:.1f} s)"
    )
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from server.backup import BackupError, restore

    with _engine(settings) as engine:
        try:
            report = restore(engine, Path(args.file), settings.backup_key, force=args.force)
        except BackupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(
        f"restored {sum(report.counts.values())} rows in {len(report.counts)} tables "
        f"(backup schema {report.revision}, now at the newest) in {report.seconds:.1f} s"
    )
    print(f"new server epoch {report.epoch}: phones pull afresh and re-send what this backup lacks")
    print(f"{report.sessions_ended} session(s) from the backup ended: everyone signs in again")
    print("note: revoke again any device or account that was revoked or disabled after this backup was taken")
    for b in report.audit_breaks[:50]:
        print(f"audit chain broken at {b}", file=sys.stderr)
    if report.audit_breaks:
        print(f"audit log: {len(report.audit_breaks)} problem(s) in {report.audit_rows} rows", file=sys.stderr)
        return 1
    print(f"audit log intact: {report.audit_rows} rows")
    return 0


def _worker_logging(level: str) -> dict[str, Any]:
    """Logging as `main` sets it up, for worker processes (uvicorn applies it in each of them)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
    }


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from server.app import create_app

    # uvicorn's access log prints query strings (a searched name is personal data): off. The app's
    # own access log (server/security/access_log.py) logs paths only.
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "server_header": False,
    }
    if settings.workers > 1:
        # Each worker process builds its app from the same environment (Settings.from_env).
        uvicorn.run(
            "server.app:create_app",
            factory=True,
            workers=settings.workers,
            log_config=_worker_logging(settings.log_level),
            **options,
        )
    else:
        uvicorn.run(create_app(settings), **options)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="yorisoi", description="Yorisoi outreach case records")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="bring the database to the newest schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("create-user", help="create a user (and the team when it does not exist)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["worker", "coordinator", "supervisor", "admin"])
    p.add_argument("--team", required=True)
    p.add_argument("--display-name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("reset-totp", help="give a user a new two-factor secret and recovery codes")
    p.add_argument("username")
    p.set_defaults(func=cmd_reset_totp)

    p = sub.add_parser("audit-verify", help="recompute the audit log's hash chain; non-zero exit when broken")
    p.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("demo", help="load the demo municipality (does nothing when already loaded)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check-stalled", help="evaluate the stall rules now; print what was raised and resolved")
    p.add_argument("--now", help="evaluate as of this time (ISO 8601 with offset); default: now")
    p.add_argument("--dry-run", action="store_true", help="print what would change, save nothing")
    p.add_argument("--no-push", action="store_true", help="queue pushes but do not send them now")
    p.set_defaults(func=cmd_check_stalled)

    p = sub.add_parser("push-vapid-key", help="print the public VAPID key (created when missing)")
    p.set_defaults(func=cmd_push_vapid_key)

    p = sub.add_parser("push-send", help="send the pushes that are due now")
    p.set_defaults(func=cmd_push_send)

    p = sub.add_parser("demo-code", help="print the current two-factor code of a demo user")
    p.add_argument("username")
    p.set_defaults(func=cmd_demo_code)

    p = sub.add_parser("devices", help="list a user's devices (id = sync client_id, last sync, outbox depth)")
    p.add_argument("--user", required=True, metavar="USERNAME")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("revoke-device", help="revoke a device: it erases its data at its next contact")
    p.add_argument("device_id", metavar="DEVICE_ID")
    p.set_defaults(func=cmd_revoke_device)

    p = sub.add_parser("device-exposure", help="list the persons whose records a device has held")
    p.add_argument("device_id", metavar="DEVICE_ID")
    p.set_defaults(func=cmd_device_exposure)

    p = sub.add_parser("backup", help="write a backup of the whole database (encrypted with YORISOI_BACKUP_KEY)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--overwrite", action="store_true", help="replace FILE when it exists")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup into an empty database; sets a new server epoch")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--force", action="store_true", help="empty a database that holds data first (destroys it)")
    p.set_defaults(func=cmd_restore)

    cli_ladder.register(sub)

    p = sub.add_parser("serve", help="serve the app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    try:
        with collector.tuned():  # as in the served app (server/collector.py)
            return int(args.func(args, settings))
    except ApiError as exc:
        where = f" ({exc.field})" if exc.field else ""
        print(f"error: {exc.code}{where}", file=sys.stderr)
        return 1
