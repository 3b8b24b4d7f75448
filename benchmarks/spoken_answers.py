"""`voicebot kb eval FILE --spoken`: the evaluation questions spoken through real WebSocket calls.

Each question (after its context turns, for follow-ups) is synthesised by an offline French voice (Kokoro-82M
by default, the one Whisper understands best here: round-trip WER 0.44 against espeak-ng's 0.79; espeak-ng
with --voice espeak), sent as
8 kHz telephone audio in real time to `voicebot serve` (a running one with --url, else one started here
with the extractive answerer), transcribed by the server's Whisper, answered, and the bot's text for that
turn is scored like the text evaluation: expected facts heard, forbidden facts, correct refusals, spoken
words. Slow on 2 cores (about 15 s a question), so it is bounded by --limit (spread over categories).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicebot.knowledge.evaluation import EvalItem, has_fact, spoken_words

REFUSAL_MARK = "pas cette information"


def pick(items: list[EvalItem], limit: int) -> list[EvalItem]:
    """At most `limit` items, taken round-robin over categories (deterministic)."""
    by_cat: dict[str, list[EvalItem]] = {}
    for it in items:
        by_cat.setdefault(it.category, []).append(it)
    out: list[EvalItem] = []
    while len(out) < min(limit, len(items)):
        for cat in sorted(by_cat):
            if by_cat[cat] and len(out) < limit:
                out.append(by_cat[cat].pop(0))
    return out


CALLER_VOICE = "jf_gongitsune"  # a caller's voice unlike the bot's (jm_kumo); see tests/e2e/test_backoffice_call.py


class KokoroCaller:
    """Kokoro-82M as the caller's voice: one engine (espeak-ng phonemes in a child process), WAVs at 16 kHz."""

    def __init__(self, voice: str = CALLER_VOICE) -> None:
        from voicebot.tts.engines import KokoroEngine

        self.engine = KokoroEngine(voice)
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.engine.start())

    def __call__(self, text: str, path: Path) -> Path:
        import numpy as np
        import soxr

        pcm = self.loop.run_until_complete(self.engine.synthesize(text))
        x = soxr.resample(np.frombuffer(pcm, np.int16).astype(np.float32), self.engine.sample_rate, 16000)
        x = np.concatenate([np.zeros(3200, np.float32), x]).clip(-32768, 32767).astype(np.int16)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(x.tobytes())
        return path

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.stop())
        self.loop.close()


def synthesise(text: str, path: Path) -> Path:
    """A French WAV of `text` (espeak-ng runs as a separate program)."""
    if not shutil.which("espeak-ng"):
        raise RuntimeError("espeak-ng est introuvable (apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(path), text], check=True,
                   capture_output=True, timeout=60)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`voicebot serve` as a child process (extractive answers), stopped at the end."""

    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        env = {**os.environ, "VOICEBOT_LLM__BACKEND": "extractive"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot", "serve", "--http-port", str(self.port), "--data-dir",
             str(self.data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voicebot serve s'est arrêté (code {self.proc.returncode})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return f"ws://127.0.0.1:{self.port}/ws/pcm"
            except OSError:
                time.sleep(1.0)
        raise RuntimeError("voicebot serve n'a pas démarré en 300 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _wavs(item: EvalItem, workdir: Path, voice: Callable[[str, Path], Path]) -> list[Path]:
    """The caller's turns as WAVs, made before the call (the voice runs its own event loop)."""
    return [voice(text, workdir / f"{item.id}-{i}.wav") for i, text in enumerate([*item.context, item.question])]


async def _call(url: str, item: EvalItem, wavs: list[Path]) -> dict[str, Any]:
    from voicebot.telephony.caller import place_call

    result = await place_call(url, wavs, rate=8000, answer_timeout_s=60.0)
    last = result.turns[-1] if result.turns else None
    return {"id": item.id, "category": item.category, "question": item.question,
            "transcript": last.caller_text if last else "", "bot": last.bot_text if last else "",
            "connected": result.connected}


def run(items: list[EvalItem], *, url: str | None, limit: int, data_dir: Path,
        voice: str = "kokoro") -> dict[str, Any]:
    chosen = pick(items, limit)
    speaker: Callable[[str, Path], Path] = KokoroCaller() if voice == "kokoro" else synthesise
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wavs = [_wavs(it, Path(tmp), speaker) for it in chosen]
            if url:
                rows = [asyncio.run(_call(url, it, w)) for it, w in zip(chosen, wavs, strict=True)]
            else:
                with Server(data_dir) as started:
                    rows = [asyncio.run(_call(started, it, w)) for it, w in zip(chosen, wavs, strict=True)]
    finally:
        if isinstance(speaker, KokoroCaller):
            speaker.close()
    report = score(chosen, rows)
    report["caller_voice"] = (f"Kokoro-82M {CALLER_VOICE} (espeak-ng phonemes)" if voice == "kokoro"
                              else "espeak-ng fr, 150 words/min")
    return report


def score(items: list[EvalItem], rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = ok = refusals = ok_ref = forbidden = 0
    words: list[int] = []
    for it, row in zip(items, rows, strict=True):
        bot = row["bot"] or ""
        refused = REFUSAL_MARK in bot
        if it.expect_refusal:
            refusals += 1
            ok_ref += refused
            row["ok"] = refused
        else:
            answerable += 1
            row["ok"] = not refused and all(has_fact(bot, f) for f in it.expect_facts)
            ok += row["ok"]
            if not refused and bot:
                words.append(spoken_words(bot))
        row["forbidden"] = [f for f in it.forbidden_facts if has_fact(bot, f)]
        forbidden += bool(row["forbidden"])
    return {"n": len(items), "spoken_accuracy": ok / (answerable or 1), "correct_refusals": ok_ref / (refusals or 1),
            "forbidden_rate": forbidden / (len(items) or 1),
            "median_spoken_words": statistics.median(words) if words else 0, "turns": rows}
