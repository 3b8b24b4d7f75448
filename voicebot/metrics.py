"""Prometheus metrics of the real-time core (served at /metrics with the calls' metrics of voicebot.calls)."""

from __future__ import annotations

from prometheus_client import Counter

CALLS_REFUSED = Counter("voicebot_calls_refused_total", "Calls refused (limit reached or bad request)", ["reason"])
ERRORS_TOTAL = Counter("voicebot_errors_total", "Errors by pipeline stage", ["stage"])
