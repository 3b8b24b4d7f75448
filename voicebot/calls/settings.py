"""Settings of the call records, event bus, handoff cards and webhook (section `calls`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CallsSettings(BaseModel):
    """Env vars: VOICEBOT_CALLS__<KEY> (e.g. VOICEBOT_CALLS__STORE_URL)."""

    store_url: str = Field(
        default="",
        description="SQLAlchemy URL of the call store. Empty: SQLite file <data_dir>/calls.sqlite3 (WAL). "
        "Several workers: postgresql+psycopg://user:pass@host/db",
    )
    bus: Literal["memory", "redis"] = Field(
        default="memory", description="Live event bus: in-process (one worker) or Redis (several workers)"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis URL when bus = redis")
    redis_prefix: str = Field(default="voicebot", description="Prefix of the Redis pub/sub channels")
    worker_id: str = Field(
        default="", description="Name of this worker in the store; empty: <hostname>-<pid>"
    )
    heartbeat_s: float = Field(default=5.0, description="How often a worker renews its lease in the store")
    lease_s: float = Field(
        default=20.0,
        description="A worker silent for this long is dead: its open calls are marked ended abnormally",
    )
    retention_days: int = Field(default=30, description="Default age for `voicebot calls purge`")
    store_raw_text: bool = Field(
        default=False, description="Also store the unredacted transcripts (off: only redacted text is kept)"
    )
    record_audio: bool = Field(default=False, description="Audio recording (off by default; not implemented)")
    webhook_url: str = Field(default="", description="Handoff cards are POSTed here as JSON (empty: off)")
    webhook_secret: str = Field(
        default="", description="HMAC-SHA256 key for the X-Voicebot-Signature header of webhook calls"
    )
    webhook_retries: int = Field(default=4, description="Attempts after the first failed webhook POST")
    webhook_backoff_s: float = Field(default=0.5, description="First retry delay; doubles at each attempt")
    webhook_timeout_s: float = Field(default=5.0, description="Timeout of one webhook POST")
    summary_llm_url: str = Field(
        default="",
        description="OpenAI-compatible base_url (…/v1) used to write handoff summaries; empty: extractive",
    )
    summary_llm_model: str = Field(default="", description="Model name sent to the summary LLM")
    summary_llm_api_key: str = Field(default="none", description="API key sent to the summary LLM")
    summary_llm_timeout_s: float = Field(
        default=4.0, description="Past this, the extractive summary is used instead of the LLM's"
    )
    subscriber_queue: int = Field(
        default=1000, description="Events buffered per live subscriber before the oldest are dropped"
    )
    long_silence_s: float = Field(default=8.0, description="Silence longer than this raises a supervisor alert")
    anger_words: list[str] = Field(
        default_factory=lambda: [
            "scandale", "scandaleux", "inadmissible", "honteux", "inacceptable", "marre", "nul",
            "incompétent", "incompetent", "arnaque", "colère", "énervé", "enerve", "putain", "merde",
        ],
        description="Words in the caller's speech that raise an anger alert",
    )
