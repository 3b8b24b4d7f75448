"""Admission control at capacity on a real worker: calls beyond it are refused cleanly, the others go on.

A real ``voicebot serve`` (extractive answers, so no LLM process) with a capacity of 2 calls; two real
WebSocket calls in progress; then a third WebSocket call (close 1013 with the reason) and a SIP INVITE
from sipp (503 with Retry-After) are refused; the two calls still get their answers; the gauges and the
refusal counter say so on /metrics.
"""

from __future__ import annotations

import asyncio
import json
import re

import httpx
import pytest
import websockets
from core_support import clip
from telephony_peers import free_port_range, free_udp_port, run_sipp, sipp_args

from benchmarks.harness import ServerProcess
from voicebot.telephony.caller import Caller

CAPACITY = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sip_port = free_udp_port()
    rtp_min, rtp_max = free_port_range()
    srv = ServerProcess(tmp_path_factory.mktemp("capacity-data"), env={
        "VOICEBOT_SERVER__CAPACITY_CALLS_PER_WORKER": str(CAPACITY), "VOICEBOT_SERVER__CAPACITY_RETRY_AFTER_S": "7",
        "VOICEBOT_LLM__BACKEND": "extractive", "VOICEBOT_SIP__ENABLED": "true", "VOICEBOT_SIP__PORT": str(sip_port),
        "VOICEBOT_SIP__RTP_PORT_MIN": str(rtp_min), "VOICEBOT_SIP__RTP_PORT_MAX": str(rtp_max)}).start()
    srv.sip_port = sip_port
    yield srv
    srv.stop()


def metric(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


async def wait_calls(server, n: int, timeout: float = 20) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(int(timeout / 0.1)):
            if (await http.get(f"{server.url}/healthz")).json()["calls"] == n:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"never {n} calls in progress")


async def refused_websocket(url: str) -> tuple[dict, int, str]:
    async with websockets.connect(url + "?rate=8000") as ws:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return event, ws.close_code, ws.close_reason


async def test_calls_beyond_capacity_are_refused_and_calls_in_progress_are_unaffected(server, tmp_path):
    before = httpx.get(f"{server.url}/metrics").text
    refused_before = metric(before, "voicebot_calls_refused_total", '{reason="capacity"}') or 0.0
    assert metric(before, "voicebot_capacity_max_calls") == CAPACITY
    callers = [asyncio.create_task(Caller(server.ws_pcm, [clip(name)], answer_timeout_s=60).run())
               for name in ("029.wav", "003.wav")]
    await wait_calls(server, CAPACITY)

    event, code, reason = await refused_websocket(server.ws_pcm)
    assert event["event"] == "error" and event["code"] == "busy" and event["retry_after_s"] == 7
    assert code == 1013 and "capacity reached" in reason

    sip = await run_sipp(sipp_args("expect_503", free_udp_port(), f"127.0.0.1:{server.sip_port}"), tmp_path)
    assert sip.rc == 0, sip.output  # 503 carrying a numeric Retry-After

    during = httpx.get(f"{server.url}/metrics").text
    assert metric(during, "voicebot_capacity_active_calls") == CAPACITY
    assert metric(during, "voicebot_capacity_utilisation") == 1.0
    assert metric(during, "voicebot_calls_refused_total", '{reason="capacity"}') == refused_before + 2

    results = await asyncio.gather(*callers)
    assert all(r.answered and r.turns[0].bot_text for r in results), [r.turns for r in results]

    await wait_calls(server, 0)
    after = httpx.get(f"{server.url}/metrics").text
    assert metric(after, "voicebot_capacity_active_calls") == 0
    again = await Caller(server.ws_pcm, [clip("003.wav")], answer_timeout_s=60).run()
    assert again.connected and again.answered  # room again: the next call is taken
