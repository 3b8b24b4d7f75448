"""Bad input, timers and failures against a real `voicebot serve`: each gets a precise error, and the
calls in progress go on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import httpx
import pytest
import websockets

from core_support import ServerProcess, clip, run_cli
from voicebot.telephony.caller import Caller


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Short timers so the silence and duration paths run in seconds; short greeting.
    env = {"VOICEBOT_PIPELINE__SILENCE_TIMEOUT_S": "3", "VOICEBOT_PIPELINE__GREETING": "Bonjour, je vous écoute.",
           "VOICEBOT_WEBSOCKET__MAX_FRAME_BYTES": "16000"}
    srv = ServerProcess(tmp_path_factory.mktemp("robust-data"), env=env).start()
    yield srv
    srv.stop()


async def _bad_client(url: str) -> dict:
    """Sends every kind of bad message on one call; returns the error codes it got back."""
    errors = []
    async with websockets.connect(f"{url}?rate=8000", max_size=None) as ws:
        async def recv():
            try:
                async for m in ws:
                    if isinstance(m, str):
                        ev = json.loads(m)
                        if ev.get("event") == "error":
                            errors.append(ev)
            except websockets.ConnectionClosed:
                pass

        task = asyncio.create_task(recv())
        for bad in ["{{{ not json", json.dumps([1, 2]), json.dumps({"event": "teleport"}),
                    json.dumps({"event": "dtmf", "digit": "X"}), "x" * 20_000]:
            await ws.send(bad)
        await ws.send(b"\x01\x02\x03")  # odd length: kept until the next byte arrives
        await ws.send(b"\x00" * 40_000)  # larger than max_frame_bytes (16000), under the hard limit
        await asyncio.sleep(1.0)
        task.cancel()
        # abrupt disconnect: drop the TCP connection without a closing handshake
        ws.transport.abort()
    return {e["code"]: e["message"] for e in errors}


async def _wrong_rate(url: str) -> tuple[int | None, str, dict]:
    async with websockets.connect(f"{url}?rate=44100") as ws:
        msg = json.loads(await ws.recv())
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "", msg
    return None, "", msg


async def _giant_frame(url: str) -> int | None:
    async with websockets.connect(f"{url}?rate=8000", max_size=None) as ws:
        await ws.send(b"\x00" * 200_000)  # over the server's hard WebSocket limit (4 x max_frame_bytes)
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as e:
            return e.rcvd.code if e.rcvd else None


async def test_bad_input_does_not_harm_a_call_in_progress(server):
    good = asyncio.create_task(Caller(server.ws_pcm, [clip("002.wav")]).run())
    await asyncio.sleep(1.0)
    errors, (code, reason, first), giant = await asyncio.gather(
        _bad_client(server.ws_pcm), _wrong_rate(server.ws_pcm), _giant_frame(server.ws_pcm))
    result = await good
    assert result.answered, "the good call was harmed"
    assert {"bad_json", "bad_event", "unknown_event", "bad_dtmf", "frame_too_large"} <= set(errors), errors
    assert "teleport" in errors["unknown_event"]
    assert "40000 bytes" in errors["frame_too_large"] or "20000" in errors["frame_too_large"]
    assert code == 4400 and "44100" in reason
    assert first["event"] == "error" and first["code"] == "bad_rate" and "8000" in first["message"]
    assert giant == 1009  # message too big: that call ends with the standard close code
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["status"] == "ok"


async def test_silence_timeout_prompts_then_hangs_up(server):
    events, closed_at = [], None
    t0 = time.monotonic()
    async with websockets.connect(f"{server.ws_pcm}?rate=8000") as ws:
        try:
            while time.monotonic() - t0 < 40:
                try:
                    m = await asyncio.wait_for(ws.recv(), 0.02)
                    if isinstance(m, str):
                        events.append(json.loads(m))
                except asyncio.TimeoutError:
                    pass
                await ws.send(bytes(320))  # the line stays open, the caller says nothing
        except websockets.ConnectionClosed:
            closed_at = time.monotonic()
    silence = [e for e in events if e.get("event") == "silence"]
    assert [e["action"] for e in silence] == ["prompt", "hangup"], events
    assert any(e.get("event") == "hangup" and e.get("reason") == "silence" for e in events)
    assert closed_at is not None and closed_at - t0 < 40


async def test_llm_killed_mid_call_falls_back_to_grounded_answers(server):
    """The LLM server dies during a call: the knowledge base's extractive answers take over, the call goes on."""
    pids = server.child_pids("llama_cpp.server")
    assert pids, "no embedded LLM child process"
    call = asyncio.create_task(Caller(server.ws_pcm, [clip("029.wav"), clip("002.wav")]).run())
    await asyncio.sleep(1.0)  # the call is connected, the greeting is playing
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    result = await call
    assert result.connected and len(result.turns) == 2
    assert all(t.bot_text.strip() for t in result.turns), [t.bot_text for t in result.turns]
    guards = [e.get("guard") or "" for e in result.events if e.get("event") == "turn"]
    assert len(guards) == 2 and all("unavailable" in g or "no_answer" in g for g in guards), guards
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"


def test_invalid_setting_value_is_one_precise_error(tmp_path):
    res = run_cli("serve", "--data-dir", str(tmp_path), env={"VOICEBOT_STT__DEVICE": "gpu"})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "voicebot: error: invalid setting 'stt.device' (env VOICEBOT_STT__DEVICE): "
        "Input should be 'cpu', 'cuda' or 'auto' (got 'gpu')"]


def test_bad_port_and_missing_config_file(tmp_path):
    res = run_cli("serve", "--http-port", "70000")
    assert res.returncode == 2 and "invalid setting 'server.http_port'" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("serve", "--config", str(tmp_path / "nope.toml"))
    assert res.returncode == 2 and "config file not found" in res.stderr
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[stt]\nbeam = 3\n")
    res = run_cli("serve", "--config", str(cfg))
    assert res.returncode == 2 and "unknown setting 'stt.beam'" in res.stderr


def test_missing_model_file_is_reported(tmp_path):
    res = run_cli("serve", "--data-dir", str(tmp_path),
                  env={"VOICEBOT_STT__MODEL": str(tmp_path / "no-such-model")})
    assert res.returncode == 2
    assert "no CTranslate2 Whisper model at" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("serve", "--data-dir", str(tmp_path), env={"VOICEBOT_TTS__ENGINE": "piper",
                                                             "VOICEBOT_TTS__VOICE": str(tmp_path / "v.onnx")})
    assert res.returncode == 2 and "Piper voice file not found" in res.stderr
