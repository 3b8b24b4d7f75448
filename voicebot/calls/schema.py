"""Tables of the call store (SQLAlchemy Core), identical on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, LargeBinary, MetaData,
                        String, Table, Text)

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

workers = Table(
    "workers", metadata,
    Column("worker_id", String(200), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

calls = Table(
    "calls", metadata,
    Column("id", String(100), primary_key=True),
    Column("channel", String(40), nullable=False, default=""),
    Column("caller", String(100), nullable=False, default=""),  # masked caller id
    Column("caller_raw", String(200)),  # only when store_raw_text
    Column("worker_id", String(200), nullable=False, default=""),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("end_reason", String(40)),
    Column("abnormal", Boolean, nullable=False, default=False),
    Column("state", String(40), nullable=False, default="greeting"),
    Column("topic", Text, nullable=False, default=""),
    Column("turns", Integer, nullable=False, default=0),
    Column("transferred", Boolean, nullable=False, default=False),
    Column("alerts", JSON, nullable=False, default=list),  # alert kinds raised, in order
    Index("ix_calls_open", "ended_at", "worker_id"),
    Index("ix_calls_started", "started_at"),
    # v2: the first scheme the caller asked about, and an index covering the service figures' scan
    Column("scheme", String(100), nullable=False, default="", server_default=""),
    Index("ix_calls_stats", "started_at", "ended_at", "transferred", "abnormal", "turns", "scheme"),
)

turns = Table(
    "turns", metadata,
    Column("call_id", String(100), ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("turn", Integer, primary_key=True),
    Column("started_at", Float),
    Column("ended_at", Float, nullable=False),
    Column("caller_text", Text, nullable=False, default=""),  # redacted
    Column("bot_text", Text, nullable=False, default=""),  # redacted
    Column("caller_text_raw", Text),  # only when store_raw_text
    Column("bot_text_raw", Text),
    Column("latency_ms", JSON, nullable=False, default=dict),
    Column("sources", JSON, nullable=False, default=list),
    Column("guard", String(60), nullable=False, default=""),
    Column("interrupted", Boolean, nullable=False, default=False),
    # v2: how the turn was answered (see outcomes.answer_path), the scheme of its first source and the
    # voice-to-voice latency (caller speech end -> first bot audio), written with the turn for the stats.
    Column("path", String(20), nullable=False, default="", server_default=""),
    Column("scheme", String(100), nullable=False, default="", server_default=""),
    Column("v2v_ms", Float),
    Index("ix_turns_stats", "ended_at", "path", "scheme", "v2v_ms"),  # covers the service figures' scans
)

events = Table(
    "events", metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(100), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(40), nullable=False),
    Column("ts", Float, nullable=False),
    Column("data", JSON, nullable=False, default=dict),  # text fields redacted
    Index("ix_events_call", "call_id", "ts"),
)

handoffs = Table(
    "handoffs", metadata,
    Column("id", String(64), primary_key=True),
    Column("call_id", String(100), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("reason", String(40), nullable=False, default=""),
    Column("queue", String(100), nullable=False, default=""),
    Column("card", JSON, nullable=False),
    Index("ix_handoffs_created", "created_at"),
    Index("ix_handoffs_call", "call_id"),
    Index("ix_handoffs_stats", "created_at", "reason", "queue"),
)

users = Table(
    "users", metadata,
    Column("username", String(100), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(300), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(100), ForeignKey("users.username", ondelete="CASCADE"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)


# -- v2: service figures and documentation gaps -------------------------------------------------------
refusals = Table(  # calls turned away before they started (capacity reached), for the service figures
    "refusals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("channel", String(40), nullable=False, default=""),
    Column("reason", String(40), nullable=False, default=""),
    Index("ix_refusals_ts", "ts"),
)

stats_rollup = Table(  # hourly and daily counters of the service figures (see rollup.py)
    "stats_rollup", metadata,
    Column("period", String(1), primary_key=True),  # "h" (epoch hour) | "d" (local day)
    Column("bucket", Integer, primary_key=True),
    Column("metric", String(30), primary_key=True),
    Column("key", String(120), primary_key=True),
    Column("n", BigInteger, nullable=False, default=0),
)

gap_topics = Table(  # questions the bot could not answer, grouped by similarity
    "gap_topics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("label", Text, nullable=False, default=""),  # the first (redacted) question of the topic
    Column("scheme", String(100), nullable=False, default=""),
    Column("centroid", LargeBinary),  # float32 unit vector, running mean of its questions
    Column("size", Integer, nullable=False, default=0),
    Column("status", String(30), nullable=False, default=""),  # "" | document_added | out_of_scope
    Column("marked_at", Float),
    Column("marked_by", String(100), nullable=False, default=""),
)

questions = Table(  # one unanswered question (redacted), clustered later into a gap topic
    "questions", metadata,
    Column("id", String(120), primary_key=True),  # call_id:turn
    Column("call_id", String(100), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    Column("turn", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(30), nullable=False),  # no_answer | guard_rejected | clarification_failed | transferred
    Column("text", Text, nullable=False),
    Column("scheme", String(100), nullable=False, default=""),
    Column("topic_id", Integer, ForeignKey("gap_topics.id", ondelete="SET NULL")),
    Column("embedding", LargeBinary),
    Index("ix_questions_ts", "ts", "topic_id", "kind"),  # covers the gaps report's window scan
    Index("ix_questions_topic", "topic_id", "ts"),
)
