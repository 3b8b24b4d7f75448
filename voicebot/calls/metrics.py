"""Prometheus metrics of calls, transfers and alerts (default registry, served at /metrics by the app).

Counted by the recorder of the worker that holds the call, so sums across workers are right.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ACTIVE_CALLS = Gauge("voicebot_active_calls", "Calls in progress in this worker")
CALLS_TOTAL = Counter("voicebot_calls_total", "Calls started", ["channel"])
CALLS_ENDED = Counter("voicebot_calls_ended_total", "Calls ended, by reason", ["reason"])
TRANSFERS = Counter("voicebot_transfers_total", "Transfers to human agents", ["reason", "status"])
ALERTS = Counter("voicebot_alerts_total", "Supervisor alerts raised", ["kind"])
HANDOFFS = Counter("voicebot_handoffs_total", "Handoff cards built", ["summary"])
WEBHOOKS = Counter("voicebot_webhook_deliveries_total", "Handoff webhook deliveries", ["result"])
TURN_STAGE_LATENCY = Histogram(
    "voicebot_turn_stage_latency_seconds",
    "Per-stage latency of a turn as reported in `turn` events (latency_ms fields)",
    ["stage"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
MONITOR_CLIENTS = Gauge("voicebot_monitor_clients", "Monitor WebSocket clients connected", ["kind"])
MONITOR_EVENT_LAG = Histogram(
    "voicebot_monitor_event_lag_seconds", "From an event's timestamp to its send to a monitor browser",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
