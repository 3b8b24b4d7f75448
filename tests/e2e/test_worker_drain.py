"""SIGTERM drains a real worker (`voicebot serve` with SIP): new calls are refused everywhere they
could arrive (SIP INVITE and OPTIONS 503, WebSocket 1013, /readyz 503), the call in progress goes on
to its normal end, and the worker exits once it is over, with the call recorded as ended normally."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest
import websockets

from core_support import ServerProcess
from telephony_peers import free_port_range, free_udp_port, run_sipp, sipp_args
from voicebot.calls.store import CallStore


async def _poll(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await asyncio.to_thread(check)
        if got:
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


@pytest.mark.timeout(400)
async def test_sigterm_refuses_new_calls_and_lets_the_live_call_end(tmp_path):
    sip_port = free_udp_port()
    rtp = free_port_range(40)
    srv = ServerProcess(tmp_path / "data", env={
        "VOICEBOT_SIP__ENABLED": "true", "VOICEBOT_SIP__PORT": str(sip_port),
        "VOICEBOT_SIP__RTP_PORT_MIN": str(rtp[0]), "VOICEBOT_SIP__RTP_PORT_MAX": str(rtp[1]),
        "VOICEBOT_SERVER__DRAIN_TIMEOUT_S": "120",
        "VOICEBOT_LLM__BACKEND": "extractive"}).start()  # the LLM plays no part in draining: a lighter worker
    target = f"127.0.0.1:{sip_port}"
    try:
        # A SIP call that lasts 15 s, then the caller hangs up (BYE) as a caller would.
        live_call = asyncio.create_task(run_sipp(sipp_args("uac", free_udp_port(), target, "-d", "15000"),
                                                 tmp_path, timeout=120))
        ready = await _poll(lambda: (r := _get(f"{srv.url}/readyz")) and r.status_code == 200
                            and r.json()["calls"] >= 1 and r, 60, "the call to start")
        assert ready.json()["status"] == "ready"

        srv.proc.send_signal(signal.SIGTERM)
        draining = await _poll(lambda: (r := _get(f"{srv.url}/readyz")) and r.status_code == 503 and r, 20,
                               "/readyz to turn 503")
        assert draining.json() == {"status": "draining", "calls": 1}
        health = _get(f"{srv.url}/healthz")
        assert health is not None and health.status_code == 200  # alive: liveness must not kill it

        probe = await run_sipp(sipp_args("options_503", free_udp_port(), target), tmp_path)
        assert probe.rc == 0, probe.output  # kamailio's dispatcher marks the worker down
        refused = await run_sipp(sipp_args("expect_503", free_udp_port(), target), tmp_path)
        assert refused.rc == 0, refused.output  # a new SIP call gets 503 + Retry-After
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/ws/pcm?rate=8000") as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert first["event"] == "error" and first["code"] == "busy"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1013

        assert srv.proc.poll() is None  # still serving the live call
        result = await live_call
        assert result.rc == 0, result.output  # the call ran to its end: the caller's BYE got 200
        rc = await asyncio.to_thread(srv.proc.wait, 60)  # then the drained worker exits by itself
        assert rc == 0, srv.log()[-3000:]
    finally:
        srv.stop()
    log = srv.log()
    assert "draining" in log and "drained: no live call left" in log, log[-3000:]
    store = CallStore(f"sqlite:///{tmp_path / 'data' / 'calls.sqlite3'}")
    try:
        rows = store.history()
    finally:
        store.close()
    assert len(rows) == 1, rows  # the refused calls left no record; the drained one is complete
    assert rows[0]["end_reason"] == "caller_hangup" and not rows[0]["abnormal"], rows[0]
