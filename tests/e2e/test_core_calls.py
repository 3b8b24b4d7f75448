"""The real-time core end to end: a real `voicebot serve` (Whisper, llama.cpp, TTS, Silero, Smart Turn)
called over its WebSocket endpoints with the committed French clips (tests/data/speech-fr) at 8 kHz."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import numpy as np
import pytest
import websockets

from core_support import ServerProcess, clip, read_pcm, run_cli, speech_seconds, transcripts
from voicebot.pipeline.call_state import LATENCY_MARKS
from benchmarks.text_metrics import wer
from voicebot.telephony.caller import Caller, dbfs, read_wav

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
# Whisper base on the 8 kHz path: corpus WER 0.35 (benchmarks/stt_wer.py); the clips used here score
# 0.14-0.18 there. The bound leaves room for VAD trimming and CPU contention, not for a broken chain.
WER_BOUND = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = ServerProcess(tmp_path_factory.mktemp("core-data")).start()
    yield srv
    srv.stop()


def _sound_seconds(pcm: bytes, rate: int, threshold_dbfs: float = -45.0) -> float:
    n = int(rate * 0.02) * 2
    return sum(0.02 for i in range(0, len(pcm) - n, n) if dbfs(pcm[i:i + n]) > threshold_dbfs)


def test_call_cli_says_a_typed_question(server):
    """The README's first call: the question typed, spoken by the offline voice (espeak-ng), answered.

    Whisper base hears espeak's robotic French badly (benchmarks/tts_voices.py), so only the round trip is
    checked here: the synthesised speech was heard as words and the bot answered them.
    """
    res = run_cli("call", "--say", "Quel est le montant de l'aide au permis de conduire ?", "--url", server.ws_pcm,
                  "--json")
    assert res.returncode == 0, res.stderr
    turns = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(turns) == 1 and turns[0]["caller_text"].strip() and turns[0]["bot_text"].strip(), turns


def test_call_cli_refuses_a_call_without_turns(server):
    res = run_cli("call", "--url", server.ws_pcm)
    assert res.returncode == 2 and "--wav FILE or --say" in res.stderr


def test_call_cli_answers_a_french_question(server, tmp_path):
    out = tmp_path / "answer.wav"
    res = run_cli("call", "--wav", str(clip("029.wav")), "--url", server.ws_pcm, "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    turns = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(turns) == 1
    turn = turns[0]
    assert wer(transcripts()["029.wav"], turn["caller_text"]) <= WER_BOUND, turn["caller_text"]
    assert turn["bot_text"].strip()
    lat = turn["latency_ms"]
    assert list(lat) == [m for m in LATENCY_MARKS if m in lat]
    assert set(LATENCY_MARKS) <= set(lat), lat
    values = [lat[m] for m in LATENCY_MARKS]
    assert values[0] == 0.0 and values == sorted(values), lat
    assert turn["wire_latency_ms"] is not None and turn["wire_latency_ms"] > 0
    samples, rate = read_pcm(out)
    assert rate == 8000 and speech_seconds(samples, rate) > 2.0


async def test_greeting_and_answer_are_speech(server):
    result = await Caller(server.ws_pcm, [clip("001.wav")]).run()
    assert result.connected and result.answered
    greeting = np.frombuffer(bytes(result.bot_audio[:result.greeting_bytes]), dtype=np.int16)
    answer = np.frombuffer(bytes(result.bot_audio[result.greeting_bytes:]), dtype=np.int16)
    assert speech_seconds(greeting, 8000) > 1.5, "the greeting is not speech"
    assert speech_seconds(answer, 8000) > 0.5, "the answer is not speech"
    assert wer(transcripts()["001.wav"], result.turns[0].caller_text) <= WER_BOUND


class RawCall:
    """A bare WebSocket caller for timing tests: records (arrival time, message) for everything received."""

    def __init__(self, url: str, rate: int = 8000):
        self.url = f"{url}?rate={rate}"
        self.rate = rate
        self.received: list[tuple[float, object]] = []
        self.ws = None
        self._task = None

    async def __aenter__(self):
        self.ws = await websockets.connect(self.url, max_size=None)
        self._task = asyncio.create_task(self._recv())
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        self._task.cancel()

    async def _recv(self):
        try:
            async for m in self.ws:
                self.received.append((time.monotonic(), m if isinstance(m, bytes) else json.loads(m)))
        except websockets.ConnectionClosed:
            pass

    def events(self, kind: str) -> list[dict]:
        return [m for _, m in self.received if isinstance(m, dict) and m.get("event") == kind]

    def sound_between(self, t0: float, t1: float) -> float:
        return sum(_sound_seconds(m, self.rate) for t, m in self.received if isinstance(m, bytes) and t0 <= t < t1)

    def first_sound_at(self) -> float | None:
        return next((t for t, m in self.received if isinstance(m, bytes) and dbfs(m) > -45), None)

    async def send_pcm(self, samples: np.ndarray):
        n = int(self.rate * 0.02)
        t_next = time.monotonic()
        for i in range(0, len(samples), n):
            chunk = samples[i:i + n]
            await self.ws.send(np.pad(chunk, (0, n - len(chunk))).astype(np.int16).tobytes())
            t_next += 0.02
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))

    async def silence(self, seconds: float):
        await self.send_pcm(np.zeros(int(self.rate * seconds), dtype=np.int16))

    async def wait_sound(self, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while self.first_sound_at() is None and time.monotonic() < deadline:
            await self.silence(0.1)
        assert self.first_sound_at() is not None, "no bot audio"


async def test_barge_in_stops_the_bot(server):
    async with RawCall(server.ws_pcm) as call:
        await call.wait_sound()
        await call.silence(0.6)  # the greeting is playing (it lasts about 6 s)
        t_speak = time.monotonic()
        await call.send_pcm(read_wav(clip("004.wav"), 8000))  # 8 s of read speech over the greeting
        await call.silence(0.5)
        assert call.events("barge_in"), "no barge-in event"
        # Before the caller spoke the bot was talking; from 2 s into the caller's speech it must be quiet.
        assert call.sound_between(t_speak - 0.6, t_speak) > 0.3
        assert call.sound_between(t_speak + 2.0, t_speak + 6.0) < 0.2
        assert any(isinstance(m, dict) and m.get("event") == "clear" for _, m in call.received)


async def test_backchannel_does_not_interrupt(server, tmp_path):
    import subprocess

    wav = tmp_path / "oui.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(wav), "oui"], check=True)
    oui = read_wav(wav, 8000)
    async with RawCall(server.ws_pcm) as call:
        await call.wait_sound()
        await call.silence(0.5)
        t0 = time.monotonic()
        await call.send_pcm(oui)
        await call.silence(3.0)
        assert not call.events("barge_in")
        assert call.sound_between(t0 + 1.0, t0 + 3.0) > 1.0, "the bot stopped talking"


def _twilio_messages() -> list[dict]:
    return [json.loads(line) for line in (GOLDEN / "twilio" / "call-029.jsonl").read_text().splitlines()]


async def test_twilio_media_streams_endpoint(server):
    messages = _twilio_messages()
    stream_sid = messages[1]["start"]["streamSid"]
    url = server.ws_pcm.replace("/ws/pcm", "/ws/twilio")
    received: list[tuple[float, dict]] = []
    async with websockets.connect(url) as ws:
        async def recv():
            try:
                async for m in ws:
                    received.append((time.monotonic(), json.loads(m)))
            except websockets.ConnectionClosed:
                pass

        task = asyncio.create_task(recv())
        await ws.send(json.dumps(messages[0]))
        await ws.send(json.dumps(messages[1]))
        media = [m for m in messages if m["event"] == "media"]
        silence_chunk = dict(media[0], media=dict(media[0]["media"], payload=base64.b64encode(b"\xff" * 160).decode()))

        async def play(msgs):
            t_next = time.monotonic()
            for m in msgs:
                await ws.send(json.dumps(m))
                t_next += 0.02
                await asyncio.sleep(max(0.0, t_next - time.monotonic()))

        await play([silence_chunk] * 400)  # 8 s: the greeting
        t_speech = time.monotonic()
        await play(media)
        await play([silence_chunk] * 500)  # 10 s for the answer
        await ws.send(json.dumps(messages[-1]))
        task.cancel()

    out = [(t, m) for t, m in received if m.get("event") == "media"]
    assert out and all(m["streamSid"] == stream_sid for _, m in out)

    def mulaw_dbfs(payload: str) -> float:
        raw = np.frombuffer(base64.b64decode(payload), dtype=np.uint8)
        # μ-law decode (ITU-T G.711) of the returned audio
        raw = ~raw
        sign = raw & 0x80
        exp = (raw >> 4) & 0x07
        mant = raw & 0x0F
        mag = ((mant.astype(np.int32) << 3) + 0x84) << exp
        pcm = np.where(sign != 0, 0x84 - mag, mag - 0x84).astype(np.float32)
        return float(20 * np.log10(np.sqrt((pcm**2).mean()) / 32768 + 1e-9))

    greeting = [m for t, m in out if t < t_speech and mulaw_dbfs(m["media"]["payload"]) > -45]
    answer = [m for t, m in out if t > t_speech + 3.4 and mulaw_dbfs(m["media"]["payload"]) > -45]
    assert len(greeting) > 20, "no greeting audio on the Twilio stream"
    assert len(answer) > 10, "no answer audio on the Twilio stream"
