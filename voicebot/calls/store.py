"""CallStore: calls, turns, events, handoffs, users and login sessions in SQLite or PostgreSQL.

One code path (SQLAlchemy Core); SQLite in WAL mode is the embedded default, PostgreSQL (psycopg 3)
serves several workers. Methods are synchronous and short; async callers use `asyncio.to_thread`.
Every write commits at once, so a worker crash loses at most what was not yet written.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, create_engine, delete, event, func, or_, select, text, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from voicebot.calls import migrations, outcomes, rollup, schema
from voicebot.calls.schema import calls, events, handoffs, questions, refusals, sessions, turns, users, workers


@contextlib.contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose statements all see the same committed state.

    A report made of several SELECTs (topics, then the count of questions still pending) must not mix
    states when the background grouping commits between two of them: the page would read "nothing
    pending" next to topics from before, and stop polling. PostgreSQL: one REPEATABLE READ transaction.
    SQLite: pysqlite opens no transaction before a SELECT (each one would be its own snapshot), so BEGIN is
    sent by hand; in WAL mode the snapshot of the first SELECT holds until the end, without blocking writers.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()  # nothing was written: end the snapshot


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir) / 'calls.sqlite3'}"


class CallStore:
    """The call records. Build with `CallStore(url)`, then `migrate()` once per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        self.dialect = self.engine.dialect.name

    @classmethod
    def from_settings(cls, calls_settings, data_dir: Path) -> "CallStore":
        return cls(calls_settings.store_url or default_url(data_dir))

    def close(self) -> None:
        self.engine.dispose()

    # -- schema -----------------------------------------------------------------------------
    def migrate(self) -> int:
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # several workers may start together
                conn.execute(text("SELECT pg_advisory_xact_lock(715517)"))
            return migrations.migrate(conn)

    def _insert(self, table):
        mod = pg_dialect if self.dialect == "postgresql" else sqlite_dialect
        return mod.insert(table)

    # -- workers ----------------------------------------------------------------------------
    def heartbeat(self, worker_id: str, now: float | None = None) -> None:
        now = now or time.time()
        stmt = self._insert(workers).values(worker_id=worker_id, started_at=now, heartbeat_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"heartbeat_at": now})
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def forget_worker(self, worker_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(workers).where(workers.c.worker_id == worker_id))

    def end_lost_calls(self, lease_s: float, now: float | None = None, worker_id: str | None = None
                       ) -> list[dict[str, Any]]:
        """Mark ended abnormally the open calls of workers silent for lease_s (or of worker_id).

        Returns the calls closed, so the caller can announce them on the bus.
        """
        now = now or time.time()
        with self.engine.begin() as conn:
            if worker_id is not None:
                cond = calls.c.worker_id == worker_id
            else:
                alive = select(workers.c.worker_id).where(workers.c.heartbeat_at >= now - lease_s)
                cond = calls.c.worker_id.not_in(alive)
            rows = conn.execute(select(calls.c.id, calls.c.worker_id, calls.c.started_at, calls.c.transferred,
                                       calls.c.turns).where(and_(calls.c.ended_at.is_(None), cond))).mappings().all()
            if rows:
                conn.execute(update(calls).where(calls.c.id.in_([r["id"] for r in rows]),
                                                 calls.c.ended_at.is_(None)).values(
                    ended_at=now, end_reason="worker_lost", abnormal=True, state="ended"))
                for r in rows:
                    rollup.bump(conn, self._insert, r["started_at"], rollup.call_end_bumps(
                        r["started_at"], now, bool(r["transferred"]), True, int(r["turns"] or 0)))
        return [{"id": r["id"], "worker_id": r["worker_id"]} for r in rows]

    # -- calls ------------------------------------------------------------------------------
    def start_call(self, call_id: str, *, started_at: float, channel: str = "", caller: str = "",
                   caller_raw: str | None = None, worker_id: str = "") -> None:
        stmt = self._insert(calls).values(
            id=call_id, channel=channel, caller=caller, caller_raw=caller_raw, worker_id=worker_id,
            started_at=started_at, state="greeting", topic="", turns=0, abnormal=False,
            transferred=False, alerts=[], scheme="",
        ).on_conflict_do_nothing(index_elements=["id"])
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount:
                rollup.bump(conn, self._insert, started_at, Counter({("received", ""): 1}))

    def ensure_call(self, call_id: str, started_at: float, worker_id: str = "") -> None:
        """Create a bare call row for events of a call whose start was not seen."""
        self.start_call(call_id, started_at=started_at, worker_id=worker_id)

    def update_call(self, call_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(calls).where(calls.c.id == call_id).values(**values))

    def set_call_scheme(self, call_id: str, scheme: str) -> None:
        """The first scheme a call asked about (kept once set): what the service figures count."""
        with self.engine.begin() as conn:
            started = conn.execute(select(calls.c.started_at).where(
                calls.c.id == call_id, calls.c.scheme == "")).scalar()
            if started is not None and conn.execute(update(calls).where(
                    calls.c.id == call_id, calls.c.scheme == "").values(scheme=scheme[:100])).rowcount:
                rollup.bump(conn, self._insert, started, Counter({("scheme_calls", scheme[:100]): 1}))

    def add_alert(self, call_id: str, kind: str) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(calls.c.alerts).where(calls.c.id == call_id)).first()
            if row is not None:
                conn.execute(update(calls).where(calls.c.id == call_id).values(alerts=[*(row[0] or []), kind]))

    def end_call(self, call_id: str, *, ended_at: float, reason: str, abnormal: bool = False) -> None:
        c = calls.c
        with self.engine.begin() as conn:
            row = conn.execute(select(c.started_at, c.transferred, c.turns).where(
                c.id == call_id, c.ended_at.is_(None))).first()
            done = conn.execute(update(calls).where(c.id == call_id, c.ended_at.is_(None)).values(
                ended_at=ended_at, end_reason=reason, abnormal=abnormal, state="ended")).rowcount
            if done and row is not None:
                rollup.bump(conn, self._insert, row[0], rollup.call_end_bumps(
                    row[0], ended_at, bool(row[1]), abnormal, int(row[2] or 0)))

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.id == call_id)).mappings().first()
        return _call_dict(row) if row else None

    def open_calls(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(calls).where(calls.c.ended_at.is_(None))
                                .order_by(calls.c.started_at)).mappings().all()
        return [_call_dict(r) for r in rows]

    def history(self, q: str = "", limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Ended calls, newest first; q searches call id, caller (masked), topic and turn texts."""
        stmt = select(calls).where(calls.c.ended_at.is_not(None))
        if q.strip():
            like = f"%{q.strip()}%"
            in_turns = select(turns.c.call_id).where(or_(turns.c.caller_text.ilike(like),
                                                         turns.c.bot_text.ilike(like)))
            stmt = stmt.where(or_(calls.c.id.ilike(like), calls.c.caller.ilike(like),
                                  calls.c.topic.ilike(like), calls.c.id.in_(in_turns)))
        stmt = stmt.order_by(calls.c.started_at.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_call_dict(r) for r in conn.execute(stmt).mappings().all()]

    # -- turns and events -------------------------------------------------------------------
    def add_turn(self, call_id: str, turn: int, *, ended_at: float, caller_text: str, bot_text: str,
                 started_at: float | None = None, latency_ms: dict | None = None,
                 sources: list | None = None, guard: str = "", interrupted: bool = False,
                 caller_text_raw: str | None = None, bot_text_raw: str | None = None) -> None:
        values: dict[str, Any] = dict(call_id=call_id, turn=turn, started_at=started_at, ended_at=ended_at,
                      caller_text=caller_text, bot_text=bot_text, caller_text_raw=caller_text_raw,
                      bot_text_raw=bot_text_raw, latency_ms=latency_ms or {}, sources=sources or [],
                      guard=guard or "", interrupted=bool(interrupted),
                      path=outcomes.answer_path(guard), scheme=outcomes.first_scheme(sources or []),
                      v2v_ms=outcomes.voice_to_voice_ms(latency_ms or {}))
        stmt = self._insert(turns).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=["call_id", "turn"],
                                          set_={k: v for k, v in values.items() if k not in ("call_id", "turn")})
        t = turns.c
        with self.engine.begin() as conn:
            old = conn.execute(select(t.ended_at, t.path, t.scheme, t.v2v_ms).where(
                t.call_id == call_id, t.turn == turn)).first()
            conn.execute(stmt)
            if old is not None:  # a replayed turn replaces the counts of the first one
                rollup.bump(conn, self._insert, old[0], rollup.turn_bumps(old[1], old[2], old[3], sign=-1))
            rollup.bump(conn, self._insert, ended_at, rollup.turn_bumps(values["path"], values["scheme"],
                                                                        values["v2v_ms"]))
            n = conn.execute(select(func.count()).select_from(turns).where(turns.c.call_id == call_id)).scalar()
            conn.execute(update(calls).where(calls.c.id == call_id).values(turns=n))

    def turns(self, call_id: str, include_raw: bool = False) -> list[dict[str, Any]]:
        cols = [c for c in turns.c if include_raw or not c.name.endswith("_raw")]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(turns.c.call_id == call_id).order_by(turns.c.turn)).mappings()
            return [dict(r) for r in rows]

    def add_event(self, call_id: str, event_id: str, type_: str, ts: float, data: dict) -> None:
        stmt = self._insert(events).values(id=event_id, call_id=call_id, type=type_, ts=ts, data=data)
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))

    def events(self, call_id: str, types: list[str] | None = None) -> list[dict[str, Any]]:
        stmt = select(events).where(events.c.call_id == call_id)
        if types:
            stmt = stmt.where(events.c.type.in_(types))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt.order_by(events.c.ts)).mappings()]

    # -- service figures and documentation gaps ----------------------------------------------
    def add_refusal(self, ts: float, channel: str, reason: str = "capacity") -> None:
        with self.engine.begin() as conn:
            conn.execute(refusals.insert().values(ts=ts, channel=channel[:40], reason=reason[:40]))
            rollup.bump(conn, self._insert, ts, Counter({("refused", ""): 1}))

    def add_question(self, call_id: str, turn: int, *, ts: float, kind: str, text: str, scheme: str = "") -> None:
        """Record an unanswered (redacted) question once per call turn; clustering comes later."""
        stmt = self._insert(questions).values(id=f"{call_id}:{turn}"[:120], call_id=call_id, turn=turn, ts=ts,
                                              kind=kind, text=text, scheme=scheme[:100])
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))

    def last_question_turn(self, call_id: str) -> dict[str, Any] | None:
        """The call's last turn where the caller asked something the bot tried to answer."""
        stmt = (select(turns.c.turn, turns.c.caller_text, turns.c.scheme, turns.c.ended_at)
                .where(turns.c.call_id == call_id, turns.c.caller_text != "",
                       turns.c.path.not_in(["", "other"]))
                .order_by(turns.c.turn.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return dict(row) if row else None

    # -- handoffs ---------------------------------------------------------------------------
    def add_handoff(self, handoff_id: str, call_id: str, *, created_at: float, reason: str, queue: str,
                    card: dict) -> None:
        stmt = self._insert(handoffs).values(id=handoff_id, call_id=call_id, created_at=created_at,
                                             reason=reason, queue=queue, card=card)
        with self.engine.begin() as conn:
            if conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"])).rowcount:
                rollup.bump(conn, self._insert, created_at, Counter({("transfer", f"{reason}|{queue}"): 1}))
            conn.execute(update(calls).where(calls.c.id == call_id).values(transferred=True))

    def get_handoff(self, handoff_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(handoffs).where(handoffs.c.id == handoff_id)).mappings().first()
        return dict(row) if row else None

    def recent_handoffs(self, limit: int = 50, call_id: str | None = None) -> list[dict[str, Any]]:
        stmt = select(handoffs)
        if call_id:
            stmt = stmt.where(handoffs.c.call_id == call_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(handoffs.c.created_at.desc()).limit(limit)).mappings()
            return [dict(r) for r in rows]

    # -- users and sessions -----------------------------------------------------------------
    def upsert_user(self, username: str, role: str, password_hash: str) -> bool:
        """Create or replace a user; True when it was created."""
        with self.engine.begin() as conn:
            exists = conn.execute(select(users.c.username).where(users.c.username == username)).first()
            if exists:
                conn.execute(update(users).where(users.c.username == username).values(
                    role=role, password_hash=password_hash, disabled=False))
                conn.execute(delete(sessions).where(sessions.c.username == username))
                return False
            conn.execute(users.insert().values(username=username, role=role, password_hash=password_hash,
                                               created_at=time.time(), disabled=False))
            return True

    def get_user(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).mappings().first()
        return dict(row) if row else None

    def create_session(self, token_hash: str, username: str, role: str, csrf: str, ttl_s: float) -> None:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(token_hash=token_hash, username=username, role=role,
                                                  csrf=csrf, created_at=now, expires_at=now + ttl_s))

    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.token_hash == token_hash,
                                                      sessions.c.expires_at > time.time())).mappings().first()
        return dict(row) if row else None

    def delete_session(self, token_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    # -- retention --------------------------------------------------------------------------
    def purge(self, older_than_s: float, now: float | None = None) -> int:
        """Delete ended calls (with turns, events, handoffs) that ended before now - older_than_s."""
        cutoff = (now or time.time()) - older_than_s
        with self.engine.begin() as conn:
            old = select(calls.c.id).where(calls.c.ended_at.is_not(None), calls.c.ended_at < cutoff)
            ids = [r[0] for r in conn.execute(old)]
            if not ids:
                return 0
            for table in (questions, turns, events, handoffs):
                conn.execute(delete(table).where(table.c.call_id.in_(ids)))
            conn.execute(delete(calls).where(calls.c.id.in_(ids)))
            conn.execute(delete(refusals).where(refusals.c.ts < cutoff))
            rollup.purge(conn, cutoff)
        self._erase_freed_pages()
        return len(ids)

    def _erase_freed_pages(self) -> None:
        """Purged rows must not survive in the SQLite file or its -wal.

        secure_delete zeroes freed content, a TRUNCATE checkpoint writes the WAL back and empties it
        (PostgreSQL: VACUUM's job).
        """
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _call_dict(row) -> dict[str, Any]:
    d = dict(row)
    d.pop("caller_raw", None)
    d["live"] = d.get("ended_at") is None
    return d


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA secure_delete=ON")  # deleted (purged) content is overwritten, not left in free pages
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


__all__ = ["CallStore", "default_url", "schema"]
