"""Admission at capacity: one count for WebSocket and SIP, refusals counted, gauges for autoscaling."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from voicebot.telephony.capacity import Capacity


def gauge(name: str, labels: dict | None = None) -> float | None:
    return REGISTRY.get_sample_value(name, labels or {})


def test_capacity_is_shared_by_every_entry_and_refusals_are_counted():
    refused0 = gauge("voicebot_calls_refused_total", {"reason": "capacity"}) or 0.0
    cap = Capacity(2, retry_after_s=9)
    sip = cap.for_sip()
    assert cap.try_enter() and sip.try_acquire()
    assert gauge("voicebot_capacity_active_calls") == 2 and gauge("voicebot_capacity_utilisation") == 1.0
    assert not cap.try_enter() and not sip.try_acquire()  # full: both entries refuse
    assert gauge("voicebot_calls_refused_total", {"reason": "capacity"}) == refused0 + 2
    assert sip.retry_after_s == 9 and "9 s" in cap.refusal_message()
    sip.release()
    assert sip.active == 0 and cap.active == 1 and cap.try_enter("websocket")
    cap.leave()
    cap.leave()
    cap.leave()  # one leave too many never goes below zero
    assert cap.active == 0 and gauge("voicebot_capacity_active_calls") == 0


def test_the_sip_entry_keeps_its_own_ceiling_inside_the_shared_capacity():
    cap = Capacity(4)
    sip = cap.for_sip(sip_max_calls=1)
    assert sip.try_acquire() and not sip.try_acquire()
    assert cap.try_enter() and cap.active == 2
    assert gauge("voicebot_capacity_max_calls") == 4


def test_capacity_must_admit_at_least_one_call():
    with pytest.raises(ValueError):
        Capacity(0)
