"""A spoken WebSocket call that completes the dossier status dialogue.

A real `voicebot serve` (Whisper base, turn detection, the dossier flow, TTS) beside the real sample
back-office, each its own process. The caller's sentences are synthesised with Kokoro-82M (the project's
own engine, French espeak-ng phonemes): Whisper base hears it far better than espeak-ng's voice, which
last session came out as "Moucault postale, catamate...". The request and the confirmation are spoken;
the dossier number and the postcode are keyed on the keypad, which the issue allows (the spoken number
is covered against the flow in tests/integration/test_backoffice_chat.py). The lookup is then found in
the call records, redacted, and no dossier number, in digits or in words, is in the stored turns.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import numpy as np
import pytest
import soxr
import websockets

from backoffice_support import SampleBackoffice
from core_support import ServerProcess
from voicebot.telephony.caller import dbfs
from voicebot.tts.engines import KokoroEngine

RATE = 16000  # a wideband WebSocket call
# Chosen by a probe of the five Kokoro voices at speeds 0.8 and 1.0 against the embedded Whisper base:
# jf_gongitsune and jf_tebukuro were the voices whose status request was detected at both speeds ("Bonjour,
# je voudrais savoir où en est mon dossier s'il vous plaît."); "Oui, d'accord." came back with every voice,
# a bare "Oui." with few.
VOICE = "jf_gongitsune"
SAID = {
    "request": "Bonjour, je voudrais savoir où en est mon dossier, s'il vous plaît.",
    "yes": "Oui, d'accord.",
}


@pytest.fixture(scope="module")
def caller_voice() -> dict[str, np.ndarray]:
    """The caller's sentences, synthesised once, as 16 kHz samples with a short silence before."""
    async def synth() -> dict[str, np.ndarray]:
        engine = KokoroEngine(VOICE)
        await engine.start()
        out = {}
        for key, text in SAID.items():
            pcm = np.frombuffer(await engine.synthesize(text), np.int16).astype(np.float32)
            audio = soxr.resample(pcm, engine.sample_rate, RATE)
            out[key] = np.concatenate([np.zeros(RATE // 5), audio]).clip(-32768, 32767).astype(np.int16)
        return out
    return asyncio.run(synth())


@pytest.fixture(scope="module")
def backoffice(tmp_path_factory):
    with SampleBackoffice(tmp_path_factory.mktemp("bo")) as s:
        yield s


@pytest.fixture(scope="module")
def server(tmp_path_factory, backoffice):
    srv = ServerProcess(tmp_path_factory.mktemp("bo-call-data"),
                        env={"VOICEBOT_BACKOFFICE__BASE_URL": backoffice.url, "VOICEBOT_LLM__BACKEND": "extractive"})
    srv.start()
    yield srv
    srv.stop()


class DialogueCall:
    """A WebSocket caller that speaks, keys digits, and waits for the bot to finish each reply."""

    def __init__(self, url: str):
        self.url = f"{url}?rate={RATE}"
        self.events: list[dict] = []
        self.last_sound = 0.0
        self.sounds = 0

    async def __aenter__(self) -> DialogueCall:
        self.ws = await websockets.connect(self.url, max_size=None)
        self.task = asyncio.create_task(self._recv())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        self.task.cancel()

    async def _recv(self) -> None:
        try:
            async for m in self.ws:
                if isinstance(m, bytes):
                    if dbfs(m) > -45:
                        self.last_sound, self.sounds = time.monotonic(), self.sounds + 1
                else:
                    self.events.append(json.loads(m))
        except websockets.ConnectionClosed:
            pass

    async def _pcm(self, samples: np.ndarray) -> None:
        """Send audio in 20 ms frames at the pace of a real line."""
        n = int(RATE * 0.02)
        t_next = time.monotonic()
        for i in range(0, len(samples), n):
            chunk = samples[i:i + n]
            await self.ws.send(np.pad(chunk, (0, n - len(chunk))).astype(np.int16).tobytes())
            t_next += 0.02
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))

    def texts(self, since: int, event: str) -> list[str]:
        return [e["text"] for e in self.events[since:] if e.get("event") == event]

    async def reply(self, since: int, timeout: float = 120.0, *, text: bool = True) -> str:
        """Send silence until the bot said something new and then stayed quiet 1.5 s; its new sentences.

        ``text=False`` for the greeting: a pre-synthesised phrase, heard as audio with no ``bot_text`` event.
        """
        deadline = time.monotonic() + timeout
        sounds = self.sounds
        while time.monotonic() < deadline:
            said = self.texts(since, "bot_text")
            ended = any(e.get("event") in ("transfer_status", "hangup") for e in self.events[since:])
            if ((said or not text) and self.sounds > sounds and time.monotonic() - self.last_sound > 1.5) or ended:
                return " ".join(said)
            await self._pcm(np.zeros(int(RATE * 0.1), dtype=np.int16))
        raise AssertionError(f"no reply; events: {self.events[since:]}")

    async def say(self, samples: np.ndarray) -> tuple[str, str]:
        """Speak, then wait for the reply: (what the server heard, what the bot said)."""
        mark = len(self.events)
        await self._pcm(samples)
        answer = await self.reply(mark)
        return " ".join(self.texts(mark, "transcript")), answer

    async def keys(self, digits: str) -> str:
        mark = len(self.events)
        for d in digits:
            await self.ws.send(json.dumps({"event": "dtmf", "digit": d}))
            await self._pcm(np.zeros(int(RATE * 0.1), dtype=np.int16))
        return await self.reply(mark)


async def stored_rows(db, query: str, call_id: str, timeout: float = 60.0) -> list:
    """Rows of the call store once the recorder has written them (it writes after the call)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(query, (call_id,)).fetchall()
        if rows:
            return rows
        await asyncio.sleep(0.3)
    return []


async def test_spoken_call_completes_the_dossier_dialogue(server, backoffice, caller_voice):
    async with DialogueCall(server.ws_pcm) as call:
        await call.reply(0, text=False)  # the greeting
        assert not any(e.get("event") == "hangup" for e in call.events), call.events
        heard, asked = await call.say(caller_voice["request"])
        assert "numéro" in asked and "dossier" in asked, (heard, call.events)
        read_back = await call.keys("2025000123#")
        # The read-back is spoken in full ("I, D, F, deux mille vingt-cinq, zéro zéro zéro un deux trois");
        # what leaves the pipeline (client events, store) is redacted, words included.
        assert read_back.startswith("J'ai noté le dossier") and "bien cela" in read_back, read_back
        assert "[DOSSIER]" in read_back and "un deux trois" not in read_back, read_back
        heard, verify = await call.say(caller_voice["yes"])
        assert "code postal" in verify, (heard, call.events)
        assert backoffice.stats()["status_requests"] == 0  # nothing looked up before verification
        status = await call.keys("93200")
        assert "en cours d'instruction" in status and "justificatif de domicile" in status, call.events
        assert backoffice.stats()["status_requests"] == 1
        call_id = next(e["call_id"] for e in call.events if e.get("event") == "connected")
    db = server.data_dir / "calls.sqlite3"
    rows = await stored_rows(db, "SELECT data FROM events WHERE call_id = ? AND type = 'lookup'", call_id)
    assert rows, "no lookup event recorded"
    lookup = json.loads(rows[0][0])
    assert lookup["outcome"] == "found" and lookup["dossier"] == "IDF-2025-••••23", lookup
    turns = await stored_rows(db, "SELECT caller_text, bot_text FROM turns WHERE call_id = ?", call_id)
    stored = " ".join(str(r) for r in turns)
    events = await stored_rows(db, "SELECT data FROM events WHERE call_id = ?", call_id)
    stored += " ".join(str(r) for r in events)
    assert "000123" not in stored and "un deux trois" not in stored, stored
