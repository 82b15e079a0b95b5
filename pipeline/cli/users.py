"""`litwatch user …`, `litwatch items export` and `litwatch serve`: the editor console's commands.

A password is read from stdin when stdin is not a terminal (`echo "$PW" | litwatch user add ed --role editor`:
scripts and provisioning), and prompted twice with getpass otherwise (never echoed, never an argument: arguments
show in `ps` and in shell history).
"""

from __future__ import annotations

import argparse
import csv
import getpass
import io
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import UsageError
from .output import EXIT_OK

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from litwatch.storage.console import User


def _engine(settings: Settings) -> Engine:
    from litwatch.storage.engine import make_engine
    from litwatch.storage.migrate import upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine


def read_password(name: str) -> str:
    """The new password: stdin's first line when piped, else prompted twice (they must match)."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the two passwords differ; nothing changed")
    if len(password) < 8:
        raise UsageError("the password is shorter than 8 characters; nothing changed")
    return password


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from litwatch.storage import console
    from litwatch.storage.engine import session_scope

    now = datetime.now(UTC)
    if args.action in ("add", "passwd"):
        console.check_name(args.name)  # a bad name is refused before the password is asked for
        password = read_password(args.name)
    engine = _engine(settings)
    try:
        with session_scope(engine) as s:
            if args.action == "add":
                user = console.add_user(s, args.name, args.role, password, now)
                print(f"user {user.name} added ({user.role})")
            elif args.action == "list":
                _print_users(console.list_users(s))
            elif args.action == "remove":
                console.remove_user(s, args.name)
                print(f"user {args.name} removed (their decisions stay in the audit trail)")
            elif args.action == "passwd":
                console.set_password(s, args.name, password)
                print(f"password of {args.name} changed")
            elif args.action == "role":
                console.set_role(s, args.name, args.role)
                print(f"{args.name} is now {args.role}")
            elif args.action == "token":
                token = console.new_token(s, args.name, now)
                print(token)  # shown once: only its hash is stored
                print(f"(API token of {args.name}: send it as 'Authorization: Bearer …'; any earlier one no longer "
                      "works)", file=sys.stderr)
    finally:
        engine.dispose()
    return EXIT_OK


def _print_users(users: list[User]) -> None:
    if not users:
        print("no users yet: add one with `litwatch user add NAME --role admin|editor|writer`")
        return
    print(f"{'NAME':<20} {'ROLE':<7} {'CREATED':<17} TOKEN")
    for u in users:
        print(f"{u.name:<20} {u.role:<7} {u.created_at:%Y-%m-%d %H:%M} {'yes' if u.has_token else 'no'}")


def cmd_items(args: argparse.Namespace, settings: Settings) -> int:
    """`litwatch items export`: every decision (the audit trail) with the record's verdict for its article."""
    from litwatch.storage.engine import session_scope

    from ..web.data import export_rows

    engine = _engine(settings)
    try:
        with session_scope(engine, readonly=True) as s:
            rows = export_rows(s, args.article)
    finally:
        engine.dispose()
    if args.format == "json":
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return EXIT_OK
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["article", "pmid"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    sys.stdout.write(out.getvalue())
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ..web.serve import serve

    serve(settings, host=args.host, port=args.port)
    return EXIT_OK
