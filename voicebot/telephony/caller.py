"""A command-line caller (test softphone) for the binary PCM WebSocket endpoint.

Plays one or more WAV files as caller turns, in real time, in 20 ms telephone frames, with silence in
between (a phone line never stops sending); waits for the greeting before the first turn and for the
bot's answer after each; records what the bot said. Measures latency at the wire, on the caller's
side: end of caller speech in the sent audio → first non-silent bot audio received.
"""

from __future__ import annotations

import asyncio
import json
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

FRAME_S = 0.02
SILENCE_DBFS = -45.0  # bot audio above this is "sound"


class CallerError(Exception):
    """The call could not be placed or the input is unusable."""


def read_wav(path: Path, rate: int) -> np.ndarray:
    """Mono int16 samples of a WAV file at ``rate`` (resampled with soxr if needed)."""
    try:
        with wave.open(str(path)) as w:
            if w.getsampwidth() != 2:
                raise CallerError(f"{path}: only 16-bit PCM WAV is supported")
            data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
            if w.getnchannels() > 1:
                data = data.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
            src = w.getframerate()
    except FileNotFoundError:
        raise CallerError(f"WAV file not found: {path}") from None
    except (wave.Error, EOFError) as e:
        raise CallerError(f"{path}: not a readable WAV file ({e})") from None
    if src != rate:
        data = np.clip(soxr.resample(data.astype(np.float32), src, rate, quality="HQ"), -32768, 32767).astype(np.int16)
    return data


def speech_end_s(samples: np.ndarray, rate: int) -> float:
    """Where speech ends in a clip: the end of the last 20 ms frame within 30 dB of the loudest one."""
    n = int(rate * FRAME_S)
    frames = samples[: len(samples) // n * n].astype(np.float32).reshape(-1, n)
    if not len(frames):
        return 0.0
    rms = np.sqrt((frames**2).mean(axis=1)) + 1e-9
    db = 20 * np.log10(rms / rms.max())
    voiced = np.nonzero(db > -30.0)[0]
    return float((voiced[-1] + 1) * FRAME_S) if len(voiced) else 0.0


def dbfs(pcm: bytes) -> float:
    a = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    if not len(a):
        return -120.0
    return float(20 * np.log10(np.sqrt((a**2).mean()) / 32768 + 1e-9))


@dataclass
class TurnResult:
    """What the test softphone saw of one turn: texts, latencies, whether the bot answered."""

    turn: int
    wav: str
    caller_text: str = ""
    bot_text: str = ""
    latency_ms: dict = field(default_factory=dict)
    wire_latency_ms: float | None = None
    answered: bool = False

    def to_dict(self) -> dict:
        return {"turn": self.turn, "wav": self.wav, "caller_text": self.caller_text, "bot_text": self.bot_text,
                "latency_ms": self.latency_ms, "wire_latency_ms": self.wire_latency_ms}


@dataclass
class CallResult:
    """What the test softphone saw of one call."""

    connected: bool = False
    call_id: str = ""
    greeting_heard: bool = False
    turns: list[TurnResult] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    bot_audio: bytearray = field(default_factory=bytearray)
    rate: int = 8000
    hangup_reason: str | None = None
    greeting_bytes: int = 0  # bot_audio[:greeting_bytes] was heard before the caller first spoke

    @property
    def answered(self) -> bool:
        return self.connected and any(t.answered for t in self.turns)


class Caller:
    """A test softphone over the binary WebSocket: plays WAV turns in real time, records the bot."""

    def __init__(self, url: str, wavs: list[Path], *, rate: int = 8000, answer_timeout_s: float = 30.0,
                 greeting_timeout_s: float = 15.0, quiet_after_answer_s: float = 1.2, hangup: bool = True,
                 caller_id: str = "", extra_events: list[dict] | None = None,
                 speech_ends: dict[str, float] | None = None):
        self.url = url
        # known end of speech per clip path (e.g. offline VAD on the source file); else an energy estimate
        self.speech_ends = speech_ends or {}
        self.rate = rate
        self.clips = [(str(p), read_wav(Path(p), rate)) for p in wavs]
        self.answer_timeout_s = answer_timeout_s
        self.greeting_timeout_s = greeting_timeout_s
        self.quiet_after_answer_s = quiet_after_answer_s
        self.hangup = hangup
        self.caller_id = caller_id
        self.result = CallResult(rate=rate)
        self._last_sound = 0.0  # monotonic time of the last non-silent bot audio
        self._sound_since: float | None = None
        self._turn_events: asyncio.Queue = asyncio.Queue()
        self._closed = asyncio.Event()
        self._pending_wire: TurnResult | None = None
        self._speech_end_at: float | None = None

    async def run(self) -> CallResult:
        import websockets

        sep = "&" if "?" in self.url else "?"
        url = f"{self.url}{sep}rate={self.rate}" + (f"&caller={self.caller_id}" if self.caller_id else "")
        try:
            ws = await asyncio.wait_for(websockets.connect(url, max_size=None), 10)
        except (OSError, asyncio.TimeoutError, websockets.InvalidURI, websockets.InvalidHandshake) as e:
            raise CallerError(f"cannot connect to {self.url}: {e}") from None
        async with ws:
            receiver = asyncio.create_task(self._receive(ws))
            try:
                await self._talk(ws)
            finally:
                if self.hangup and not self._closed.is_set():
                    try:
                        await ws.send(json.dumps({"event": "hangup"}))
                        await asyncio.wait_for(self._closed.wait(), 3)
                    except Exception:
                        pass
                receiver.cancel()
        return self.result

    async def _send_silence_until(self, ws, cond, timeout: float) -> bool:
        """Keep the line alive with silence until cond() or timeout."""
        silence = bytes(int(self.rate * FRAME_S) * 2)
        t_next = time.monotonic()
        deadline = t_next + timeout
        while not cond():
            if self._closed.is_set() or time.monotonic() > deadline:
                return cond()
            if not await self._send(ws, silence):
                return cond()
            t_next += FRAME_S
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))
        return True

    async def _send_clip(self, ws, samples: np.ndarray, name: str = "") -> None:
        """Send a clip in real time; ``_speech_end_at``: the monotonic time its speech ends on the wire."""
        n = int(self.rate * FRAME_S)
        end_at = self.speech_ends.get(name)
        if end_at is None:
            end_at = speech_end_s(samples, self.rate)
        t0 = t_next = time.monotonic()
        # Known before the first frame leaves: bot audio that arrives while the clip plays (the tail of the
        # previous answer) is then timed against this turn's end of speech and ignored, not against the
        # previous turn's (which made an 11-s and a 31-s "latency" out of a 1.4-s answer).
        self._speech_end_at = t0 + end_at
        for i in range(0, len(samples), n):
            chunk = samples[i:i + n]
            if len(chunk) < n:
                chunk = np.concatenate([chunk, np.zeros(n - len(chunk), dtype=np.int16)])
            if not await self._send(ws, chunk.tobytes()):
                break
            t_next += FRAME_S
            await asyncio.sleep(max(0.0, t_next - time.monotonic()))

    async def _send(self, ws, data: bytes) -> bool:
        import websockets

        try:
            await ws.send(data)
            return True
        except websockets.ConnectionClosed:
            self._closed.set()
            return False

    def _bot_quiet_for(self, seconds: float) -> bool:
        return self._last_sound > 0 and time.monotonic() - self._last_sound >= seconds

    async def _talk(self, ws) -> None:
        await self._send_silence_until(ws, lambda: self.result.connected, 10)
        if not self.result.connected:
            raise CallerError("no 'connected' event from the server")
        # The greeting: wait for it to start, then to finish.
        await self._send_silence_until(ws, lambda: self._last_sound > 0, self.greeting_timeout_s)
        self.result.greeting_heard = self._last_sound > 0
        await self._send_silence_until(ws, lambda: self._bot_quiet_for(0.6), self.greeting_timeout_s)
        self.result.greeting_bytes = len(self.result.bot_audio)
        for i, (name, samples) in enumerate(self.clips, 1):
            if self._closed.is_set():
                break
            turn = TurnResult(turn=i, wav=name)
            self.result.turns.append(turn)
            self._drain_turn_events()
            self._pending_wire = turn
            await self._send_clip(ws, samples, name)  # sets self._speech_end_at before its first frame
            # wait for the bot's answer: a turn record, then the bot's audio to finish
            got = await self._send_silence_until(ws, lambda: not self._turn_events.empty(), self.answer_timeout_s)
            if got:
                ev = self._turn_events.get_nowait()
                turn.caller_text = ev.get("caller_text", "")
                turn.bot_text = ev.get("bot_text", "")
                turn.latency_ms = ev.get("latency_ms", {})
                spoke_after = self._speech_end_at or 0.0

                def answered(after: float = spoke_after) -> bool:
                    return self._last_sound > after and self._bot_quiet_for(self.quiet_after_answer_s)

                await self._send_silence_until(ws, answered, self.answer_timeout_s)
                turn.answered = bool(turn.bot_text) and self._last_sound > spoke_after
            self._pending_wire = None

    def _drain_turn_events(self) -> None:
        while not self._turn_events.empty():
            self._turn_events.get_nowait()

    async def _receive(self, ws) -> None:
        import websockets

        try:
            async for msg in ws:
                now = time.monotonic()
                if isinstance(msg, bytes):
                    self.result.bot_audio.extend(msg)
                    if dbfs(msg) > SILENCE_DBFS:
                        self._last_sound = now
                        if self._sound_since is None:
                            self._sound_since = now
                        turn = self._pending_wire
                        if (turn is not None and turn.wire_latency_ms is None and self._speech_end_at is not None
                                and now > self._speech_end_at):
                            turn.wire_latency_ms = round((now - self._speech_end_at) * 1000, 1)
                    else:
                        self._sound_since = None
                    continue
                try:
                    ev = json.loads(msg)
                except json.JSONDecodeError:
                    continue
                self.result.events.append(ev)
                kind = ev.get("event")
                if kind == "connected":
                    self.result.connected = True
                    self.result.call_id = ev.get("call_id", "")
                elif kind == "turn":
                    await self._turn_events.put(ev)
                elif kind == "error":
                    self.result.errors.append(ev)
                elif kind == "hangup":
                    self.result.hangup_reason = ev.get("reason")
                elif kind == "clear":
                    self._sound_since = None
        except websockets.ConnectionClosed:
            pass
        finally:
            self._sound_since = None
            self._closed.set()


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(pcm))


async def place_call(url: str, wavs: list[Path], **kwargs) -> CallResult:
    return await Caller(url, wavs, **kwargs).run()
