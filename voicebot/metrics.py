"""Prometheus metrics of a worker (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from voicebot.pipeline.call_state import LATENCY_MARKS

_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)

CALLS_ACTIVE = Gauge("voicebot_calls_active", "Calls in progress on this worker")
CALLS_TOTAL = Counter("voicebot_calls_total", "Calls handled", ["channel", "end_reason"])
CALLS_REFUSED = Counter("voicebot_calls_refused_total", "Calls refused (limit reached or bad request)", ["reason"])
TURNS_TOTAL = Counter("voicebot_turns_total", "Caller turns answered", ["interrupted"])
STAGE_LATENCY = Histogram("voicebot_turn_latency_seconds",
                          "Time from caller speech end to each stage of a turn", ["stage"], buckets=_BUCKETS)
ERRORS_TOTAL = Counter("voicebot_errors_total", "Errors by pipeline stage", ["stage"])


def observe_turn(record: dict) -> None:
    TURNS_TOTAL.labels(interrupted=str(bool(record.get("interrupted"))).lower()).inc()
    for stage, ms in (record.get("latency_ms") or {}).items():
        if stage in LATENCY_MARKS and stage != "speech_end":
            STAGE_LATENCY.labels(stage=stage).observe(ms / 1000.0)
