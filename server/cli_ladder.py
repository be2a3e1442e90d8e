"""`yorisoi ladder show` and `yorisoi ladder set`: the city's milestone ladder from the command line
(the same rules and audit as the admin page /admin/ladder, server/services/ladder.py).

    yorisoi ladder show [--municipality NAME]
    yorisoi ladder set ID [--label-ja TEXT] [--label-en TEXT] [--default-ja] [--default-en]
                          [--hide | --show] [--municipality NAME]

A bad value exits non-zero with the service's error code (e.g. `error: label_too_long (…)`) and
changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.orm import Session

from server import i18n
from server.services import ladder as ladders
from server.settings import Settings


def _print(ladder: ladders.Ladder, name: str) -> None:
    print(f"milestone ladder of {name} (* = the city's label; hidden = not offered for new records)")
    for s in ladder.steps:
        rank = f"{s.rank + 1:>2}" if s.rank is not None else " -"
        state = "hidden" if s.hidden else "shown "
        labels = "  /  ".join(("*" if lang in s.relabelled else " ") + s.labels[lang] for lang in i18n.LANGUAGES)
        print(f"{rank}  {s.id:<24}  {state}  {labels}")


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli import _engine

    with _engine(settings) as engine, Session(engine) as session:
        org = ladders.find_municipality(session, args.municipality)
        _print(ladders.for_municipality(session, org.id), org.name)
    return 0


def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli import _engine

    labels: dict[str, str | None] = {}
    for lang in i18n.LANGUAGES:
        given, reset = getattr(args, f"label_{lang}"), getattr(args, f"default_{lang}")
        if given is not None and reset:
            print(f"error: --label-{lang} and --default-{lang} contradict each other", file=sys.stderr)
            return 2
        if given is not None:
            labels[lang] = given
        elif reset:
            labels[lang] = None
    if not labels and args.hidden is None:
        print("error: nothing to change: give --label-ja/en, --default-ja/en, --hide or --show", file=sys.stderr)
        return 2
    with _engine(settings) as engine, Session(engine) as session, session.begin():
        org = ladders.find_municipality(session, args.municipality)
        ladder = ladders.change_step(session, None, org.id, args.milestone, labels=labels, hidden=args.hidden)
        _print(ladder, org.name)
    print("saved; phones receive the change at their next sync")
    return 0


def register(sub: Any) -> None:
    """Add `ladder show` and `ladder set` to the `yorisoi` parser's subcommands."""
    p = sub.add_parser("ladder", help="show or change the city's milestone ladder (labels, hidden steps)")
    steps = p.add_subparsers(dest="ladder_command", required=True)

    show = steps.add_parser("show", help="list the steps with their labels and whether they are offered")
    show.add_argument("--municipality", metavar="NAME", help="needed only when there is more than one")
    show.set_defaults(func=cmd_show)

    s = steps.add_parser("set", help="relabel a step or hide it; the step's id and its history stay")
    s.add_argument("milestone", metavar="ID", help="the step id, e.g. FIRST_FACE_TO_FACE")
    s.add_argument("--label-ja", metavar="TEXT", help="the city's Japanese label")
    s.add_argument("--label-en", metavar="TEXT", help="the city's English label")
    s.add_argument("--default-ja", action="store_true", help="use the standard Japanese label again")
    s.add_argument("--default-en", action="store_true", help="use the standard English label again")
    shown = s.add_mutually_exclusive_group()
    shown.add_argument("--hide", dest="hidden", action="store_const", const=True, help="not offered for new records")
    shown.add_argument("--show", dest="hidden", action="store_const", const=False, help="offer it again")
    s.add_argument("--municipality", metavar="NAME", help="needed only when there is more than one")
    s.set_defaults(func=cmd_set, hidden=None)
