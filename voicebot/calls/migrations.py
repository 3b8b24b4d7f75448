"""Versioned schema migrations of the call store.

A list of numbered steps rather than Alembic: the schema is small, ships inside the package and must
migrate itself at start-up on SQLite and PostgreSQL alike. Add a step; never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, insert, select, update

from voicebot.calls import schema


def _v1(conn: Connection) -> None:
    """Initial schema: every table of schema.py as first released."""
    schema.metadata.create_all(conn, tables=[t for t in schema.metadata.sorted_tables
                                             if t.name != "schema_version"])


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [(1, _v1)]
LATEST = MIGRATIONS[-1][0]


def migrate(conn: Connection) -> int:
    """Bring the schema to LATEST inside the caller's transaction; returns the version reached."""
    schema.schema_version.create(conn, checkfirst=True)
    row = conn.execute(select(schema.schema_version.c.version)).first()
    current = row[0] if row else 0
    if row is None:
        conn.execute(insert(schema.schema_version).values(version=0))
    for version, step in MIGRATIONS:
        if version > current:
            step(conn)
            conn.execute(update(schema.schema_version).values(version=version))
            current = version
    return current
