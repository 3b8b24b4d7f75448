"""`voicebot users add NAME --role ROLE` (password on stdin) and `voicebot calls purge --older-than 30d`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROLES = ("admin", "supervisor", "agent", "documentation")
_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "": 86400}
_NAME_RE = re.compile(r"^[A-Za-z0-9._@\-]{1,100}$")


def parse_age(text: str) -> float:
    """'30d', '12h', '90m', '3600s', '2w' (a bare number means days) -> seconds."""
    m = _AGE_RE.match(text or "")
    if not m:
        raise ValueError(f"invalid age {text!r}: expected a number and a unit among s, m, h, d, w (e.g. 30d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def register(subparsers) -> None:
    users = subparsers.add_parser("users", help="monitor accounts (supervisors, agents, admins)")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create or update an account; the password is read from stdin")
    add.add_argument("name", help="login name (letters, digits, . _ @ -)")
    add.add_argument("--role", required=True, choices=ROLES,
                     help="admin, supervisor, agent or documentation (knowledge pages only)")
    add.set_defaults(func=users_add)

    calls = subparsers.add_parser("calls", help="call records")
    calls_sub = calls.add_subparsers(dest="calls_command", required=True)
    purge = calls_sub.add_parser("purge", help="delete ended calls older than an age (turns, events, handoffs)")
    purge.add_argument("--older-than", default=None, help="age such as 30d, 12h (default: calls.retention_days)")
    purge.set_defaults(func=calls_purge)


def _error(message: str) -> int:
    print(f"voicebot: error: {message}", file=sys.stderr)
    return 2


def _store(settings):
    from voicebot.calls.store import CallStore

    store = CallStore.from_settings(settings.calls, Path(settings.server.data_dir))
    store.migrate()
    return store


def users_add(args: argparse.Namespace, settings) -> int:
    from voicebot.calls.passwords import hash_password

    if not _NAME_RE.match(args.name):
        return _error(f"invalid user name {args.name!r}: use 1-100 letters, digits, '.', '_', '@' or '-'")
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        return _error("the password read from standard input must have at least 8 characters")
    try:
        store = _store(settings)
        created = store.upsert_user(args.name, args.role, hash_password(password))
        store.close()
    except Exception as exc:  # database unreachable, read-only disk...
        return _error(f"cannot write the user to the call store: {exc}")
    print(f"user {args.name} {'created' if created else 'updated'} with role {args.role}")
    return 0


def calls_purge(args: argparse.Namespace, settings) -> int:
    try:
        age = parse_age(args.older_than) if args.older_than else settings.calls.retention_days * 86400.0
    except ValueError as exc:
        return _error(str(exc))
    try:
        store = _store(settings)
        n = store.purge(age)
        store.close()
    except Exception as exc:
        return _error(f"cannot purge the call store: {exc}")
    print(f"{n} call(s) purged")
    return 0
