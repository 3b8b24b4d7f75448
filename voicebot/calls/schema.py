"""Tables of the call store (SQLAlchemy Core), identical on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text)

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
