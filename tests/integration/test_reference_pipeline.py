# SPDX-License-Identifier: EUPL-1.2
"""Smoke test of the stock-pipecat reference server (benchmarks/reference): one real call with voicebot's
caller, against real Whisper, llama.cpp and Piper HTTP servers, all on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest
import websockets
from core_support import REPO, clip, free_port

from voicebot.models import load_manifest, prepare_embedded_whisper, site_file
from voicebot.telephony.caller import SILENCE_DBFS, Caller, dbfs

pytestmark = [pytest.mark.models, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def llm_server():
    from voicebot.llm.server import EmbeddedLlamaServer

    server = EmbeddedLlamaServer(site_file(load_manifest()["llm"]["embedded"]["file"]), n_ctx=2048, n_threads=2)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stock_server(llm_server, tmp_path_factory):
    whisper = prepare_embedded_whisper(load_manifest()["stt"]["embedded"], REPO / "var")
    voice = site_file(load_manifest()["tts"]["embedded"]["file"])
    port = free_port()
    log_path = tmp_path_factory.mktemp("stock") / "stock_server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.reference.stock_server", "--port", str(port),
             "--llm-base-url", llm_server.base_url, "--whisper-model", str(whisper), "--piper-voice", str(voice),
             # the benchmark's like-for-like settings; DEBUG shows each model load
             "--whisper-compute-type", "int8", "--whisper-beam-size", "1", "--whisper-decoding", "voicebot",
             "--log-level", "DEBUG"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"stock server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"stock server not healthy:\n{log_path.read_text()[-3000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield f"ws://127.0.0.1:{port}/ws/pcm", proc, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _has_sound(pcm: bytes, rate: int) -> bool:
    frame = int(rate * 0.02) * 2
    return any(dbfs(pcm[i:i + frame]) > SILENCE_DBFS for i in range(0, len(pcm) - frame + 1, frame))


async def test_stock_pipeline_answers_a_call(stock_server):
    url, proc, log_path = stock_server
    result = await Caller(url, [clip("029.wav")], answer_timeout_s=60).run()

    assert result.connected and result.call_id, result.events[:3]
    assert result.greeting_heard, log_path.read_text()[-3000:]
    [turn] = result.turns
    assert turn.caller_text and turn.bot_text, (result.events, log_path.read_text()[-3000:])
    assert "lumi" in turn.caller_text.lower()  # "éteins toutes les lumières du premier étage"
    assert turn.answered and turn.wire_latency_ms is not None and turn.wire_latency_ms > 0
    # the bot's answer is real audio, heard after the greeting
    assert _has_sound(bytes(result.bot_audio[result.greeting_bytes:]), result.rate)
    assert not result.errors
    assert proc.poll() is None  # the server outlives the call


async def test_models_are_loaded_once_and_shared_warm_by_every_call(stock_server):
    url, proc, log_path = stock_server
    for name in ("003.wav", "002.wav"):
        result = await Caller(url, [clip(name)], answer_timeout_s=60).run()
        assert result.turns and result.turns[0].answered, (result.events, log_path.read_text()[-3000:])
    log = log_path.read_text(errors="replace")
    assert log.count("Loading Local Smart Turn") == 1, log[-3000:]  # one ONNX session for all the calls
    assert "Loading Whisper model" not in log  # pipecat's per-call load is replaced by the shared warm model


async def test_stock_server_refuses_a_bad_rate(stock_server):
    url, proc, _ = stock_server
    async with websockets.connect(f"{url}?rate=12345") as ws:
        msg = json.loads(await ws.recv())
        assert msg["event"] == "error" and msg["code"] == "bad_rate" and "12345" in msg["message"]
    assert proc.poll() is None
