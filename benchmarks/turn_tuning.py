"""End-of-turn tuning on the shared clips: how long the turn detector waits, and how often it cuts a caller off.

Each clip goes through voicebot's own TurnDetector (Silero VAD + Smart Turn v3, no other model), on the
8 kHz telephone path resampled to 16 kHz as the pipeline does, paced in real time, followed by silence.
A clip that yields more than one caller turn is a false cut-off (the caller had not finished); the wait
is turn end − last speech. Settings are run concurrently (they share only the CPU, lightly).

With ``--paused``, the clips are spoken questions with a pause in the middle: a first clause, then 400 to
900 ms of silence or a hesitation ("euh"), then the rest of the question (both parts spoken by the offline
voice of benchmarks/product_questions.py). Any turn ending before the second part is a false cut-off:
the bot would answer the clause before the question came.

Run: python benchmarks/turn_tuning.py [--json] [--clips N] [--paused]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path

import numpy as np
import soxr
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.tests.utils import SleepFrame, run_test

from voicebot.config import PipelineSettings
from benchmarks.harness import CLIPS, transcripts
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import CallerTurnFrame
from voicebot.pipeline.turns import TurnDetector
from voicebot.telephony.caller import read_wav

PAUSED = [  # (first clause, rest): a caller stops after the first part and goes on
    ("Bonjour,", "je voudrais savoir combien coûte le passe Navigo par mois."),
    ("Alors voilà,", "quel est le prix du forfait Navigo annuel ?"),
    ("J'ai vingt ans et je voudrais passer le permis,", "la Région peut m'aider de combien ?"),
    ("Pour mon fils qui entre en seconde,", "est-ce qu'il va recevoir un ordinateur ?"),
    ("Je suis au RSA,", "est-ce que je peux avoir les transports gratuits ?"),
    ("Ma fille est au lycée,", "combien coûte un repas à la cantine ?"),
    ("Quelle aide", "pour acheter un vélo électrique ?"),
    ("Pour le pass imagine R,", "c'est combien les frais de dossier ?"),
    ("Le ticket de métro,", "il coûte combien maintenant ?"),
    ("Les manuels scolaires,", "ils sont gratuits au lycée ?"),
]
PAUSE_KINDS = [("pause 400 ms", 0.4), ("pause 650 ms", 0.65), ("pause 900 ms", 0.9), ("« euh » + 300 ms", None)]

GRID = [  # label, settings
    ("VAD stop 0.2 s + Smart Turn", dict(vad_stop_s=0.2)),
    ("VAD stop 0.3 s + Smart Turn", dict(vad_stop_s=0.3)),
    ("VAD stop 0.5 s + Smart Turn", dict(vad_stop_s=0.5)),
    ("VAD stop 0.8 s + Smart Turn", dict(vad_stop_s=0.8)),
    ("VAD stop 0.5 s, no Smart Turn", dict(vad_stop_s=0.5, smart_turn=False)),
    ("VAD stop 1.0 s, no Smart Turn", dict(vad_stop_s=1.0, smart_turn=False)),
]
FRAME = 320  # 20 ms at 16 kHz


def telephone_16k(name: str, clips: Path = CLIPS) -> bytes:
    """A clip through the telephone line: down to 8 kHz, back up to the pipeline's 16 kHz."""
    audio = read_wav(clips / name, 8000).astype(np.float32)
    return np.clip(soxr.resample(audio, 8000, 16000), -32768, 32767).astype(np.int16).tobytes()


async def run_clip(settings: PipelineSettings, pcm: bytes, tail_s: float = 2.5) -> list[dict]:
    state = CallState("tuning")
    detector = TurnDetector(state, settings.model_copy(update={"speculative_stt": False}))
    pcm = pcm + bytes(int(16000 * tail_s) * 2)
    frames = []
    for i in range(0, len(pcm) - FRAME * 2 + 1, FRAME * 2):
        frames += [InputAudioRawFrame(audio=pcm[i:i + FRAME * 2], sample_rate=16000, num_channels=1), SleepFrame(0.02)]
    down, _ = await run_test(detector, frames_to_send=frames)
    turns = []
    for f in down:
        if isinstance(f, CallerTurnFrame):
            marks = state.turn(f.turn).marks
            turns.append({"wait_ms": round((marks["turn_end"] - marks["speech_end"]) * 1000, 1),
                          "audio_s": round(len(f.audio) / 32000, 2)})
    return turns


def to_telephone_16k(pcm: bytes, rate: int) -> np.ndarray:
    """Synthesised audio through the 8 kHz telephone path, back at the pipeline's 16 kHz."""
    x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    x8 = soxr.resample(x, rate, 8000)
    return np.clip(soxr.resample(x8, 8000, 16000), -32768, 32767).astype(np.int16)


async def paused_clips() -> dict[str, bytes]:
    """{label: 16 kHz PCM} of clause + pause or "euh" + rest, for every PAUSED question and pause kind."""
    from benchmarks.product_questions import _synth

    texts = [t for pair in PAUSED for t in pair] + ["euh"]
    voice, audio = await _synth(texts)
    parts = [to_telephone_16k(pcm, rate) for pcm, rate in audio]
    euh, out = parts[-1], {}
    for i in range(len(PAUSED)):
        first, rest = parts[2 * i], parts[2 * i + 1]
        for kind, pause_s in PAUSE_KINDS:
            gap = (np.concatenate([np.zeros(1600, np.int16), euh, np.zeros(4800, np.int16)]) if pause_s is None
                   else np.zeros(int(16000 * pause_s), np.int16))
            out[f"{i + 1:02d} {kind}"] = np.concatenate([np.zeros(3200, np.int16), first, gap, rest]).tobytes()
    paused_clips.voice = voice  # type: ignore[attr-defined]
    return out


async def run_setting(label: str, overrides: dict, clips: list[str], audio: dict[str, bytes] | None = None) -> dict:
    settings = PipelineSettings(**overrides)
    cut, missed, waits = 0, 0, []
    by_kind: dict[str, int] = {}
    for name in clips:
        turns = await run_clip(settings, audio[name] if audio else telephone_16k(name))
        if not turns:
            missed += 1
            continue
        cut += len(turns) > 1
        if len(turns) > 1:
            kind = name.split(" ", 1)[-1]
            by_kind[kind] = by_kind.get(kind, 0) + 1
        waits.append(turns[-1]["wait_ms"])
    return {"setting": label, "clips": len(clips), "false_cutoffs": cut, "missed": missed, "cutoffs_by_kind": by_kind,
            "wait_p50_ms": round(statistics.median(waits), 1) if waits else None,
            "wait_p95_ms": round(float(np.percentile(waits, 95)), 1) if waits else None}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--clips", type=int, default=36)
    ap.add_argument("--paused", action="store_true", help="spoken questions with a mid-sentence pause or 'euh'")
    args = ap.parse_args()
    audio = await paused_clips() if args.paused else None
    clips = sorted(audio)[: args.clips] if audio else sorted(transcripts())[: args.clips]
    rows = await asyncio.gather(*(run_setting(label, o, clips, audio) for label, o in GRID))
    if audio:
        print(f"clips: {len(clips)} questions with a mid-sentence pause, voice: {paused_clips.voice}")
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print("| setting | clips | false cut-offs | missed | end-of-turn wait p50 | p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['setting']} | {r['clips']} | {r['false_cutoffs']} | {r['missed']} | {r['wait_p50_ms']} ms "
              f"| {r['wait_p95_ms']} ms |" + (f" {r['cutoffs_by_kind']}" if audio else ""))


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    from loguru import logger

    logger.remove()
    asyncio.run(main())
