"""A real worker killed (SIGKILL) in the middle of a real call: every finished turn is in the store, and
when the worker comes back the call is marked as ended abnormally for the supervisors."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import httpx
import pytest

from core_support import ServerProcess, clip, run_cli
from voicebot.telephony.caller import Caller


def _supervisor(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10, headers={"Accept": "application/json"})
    r = client.post("/login", data={"username": "chef", "password": "chef-mot-de-passe-1"})
    assert r.status_code in (200, 303), r.text
    return client


@pytest.mark.timeout(300)
async def test_worker_killed_mid_call_keeps_finished_turns(tmp_path):
    res = run_cli("users", "add", "chef", "--role", "supervisor", "--data-dir", str(tmp_path),
                  input="chef-mot-de-passe-1\n")
    assert res.returncode == 0, res.stderr
    srv = ServerProcess(tmp_path).start()
    call = asyncio.create_task(Caller(srv.ws_pcm, [clip("029.wav"), clip("001.wav"), clip("002.wav")],
                                      answer_timeout_s=60).run())
    sup = _supervisor(srv.url)
    call_id, turns, deadline = None, [], time.monotonic() + 120
    while time.monotonic() < deadline and len(turns) < 1:
        await asyncio.sleep(0.5)
        live = sup.get("/api/calls").json()
        if live:
            call_id = live[0]["id"]
            turns = sup.get(f"/api/calls/{call_id}").json().get("turns_detail") or []
    assert call_id and turns, "no finished turn before the kill"
    srv.proc.send_signal(signal.SIGKILL)  # the worker dies mid-call
    srv.proc.wait(10)
    await asyncio.wait_for(call, 30)  # the caller's line drops; the client does not hang
    again = ServerProcess(tmp_path, port=srv.port).start()  # same worker comes back
    try:
        sup = _supervisor(again.url)
        detail = sup.get(f"/api/calls/{call_id}").json()
        text = json.dumps(detail, ensure_ascii=False)
        assert detail["turns"] >= len(turns) and detail["turns_detail"][0]["caller_text"] == turns[0]["caller_text"]
        assert detail["ended_abnormally"] is True and detail["end_reason"] == "worker_lost", text[:500]
        assert all(c["id"] != call_id for c in sup.get("/api/calls").json())
    finally:
        again.stop()
