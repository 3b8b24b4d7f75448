"""Versioned schema migrations of the call store.

A list of numbered steps rather than Alembic: the schema is small, ships inside the package and must
migrate itself at start-up on SQLite and PostgreSQL alike. Add a step; never edit a released one.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, case, func, insert, inspect, select, text, update

from voicebot.calls import rollup, schema


def _v1(conn: Connection) -> None:
    """Initial schema: every table of schema.py as first released."""
    schema.metadata.create_all(conn, tables=[t for t in schema.metadata.sorted_tables
                                             if t.name != "schema_version"])


V2_COLUMNS = {"turns": [("path", "VARCHAR(20) NOT NULL DEFAULT ''"), ("scheme", "VARCHAR(100) NOT NULL DEFAULT ''"),
                        ("v2v_ms", "FLOAT")],
              "calls": [("scheme", "VARCHAR(100) NOT NULL DEFAULT ''")]}
V2_TABLES = ("refusals", "stats_rollup", "gap_topics", "questions")
V2_INDEXES = ("ix_calls_stats", "ix_turns_stats", "ix_handoffs_call", "ix_handoffs_stats")


def _v2(conn: Connection) -> None:
    """Service figures and documentation gaps: answer path, scheme and latency per turn, scheme per call;
    refusals, unanswered questions and their topics; covering indexes for the time-window queries.

    A database created fresh by _v1 already has all of it (v1 creates every table of schema.py), so
    each piece is added only when missing.
    """
    insp = inspect(conn)
    for table, cols in V2_COLUMNS.items():
        have = {c["name"] for c in insp.get_columns(table)}
        for name, ddl in cols:
            if name not in have:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))
    for name in V2_TABLES:
        schema.metadata.tables[name].create(conn, checkfirst=True)
    for table in schema.metadata.sorted_tables:
        for index in table.indexes:
            if index.name in V2_INDEXES:
                index.create(conn, checkfirst=True)
    t = schema.turns
    g = func.lower(t.c.guard)
    conn.execute(update(t).where(t.c.path == "").values(path=case(
        (g == "llm_error", "error"), (g.like("%/no_answer"), "no_answer"), (g.like("rejected/%"), "guard_rejected"),
        (g.like("%/extractive"), "extractive"), (g.like("skipped/%"), "extractive"),
        (g.like("passed/%"), "llm"), else_="other")))
    rollup.rebuild(conn)  # counters of the figures for the calls this store already holds


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [(1, _v1), (2, _v2)]
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
