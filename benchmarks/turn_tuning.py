"""End-of-turn tuning on the shared clips: how long the turn detector waits, and how often it cuts a caller off.

Each clip goes through voicebot's own TurnDetector (Silero VAD + Smart Turn v3, no other model), on the
8 kHz telephone path resampled to 16 kHz as the pipeline does, paced in real time, followed by silence.
A clip that yields more than one caller turn is a false cut-off (the caller had not finished); the wait
is turn end − last speech. Settings are run concurrently (they share only the CPU, lightly).

Run: python benchmarks/turn_tuning.py [--json] [--clips N]
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

GRID = [  # label, settings
    ("VAD stop 0.2 s + Smart Turn", dict(vad_stop_s=0.2)),
    ("VAD stop 0.3 s + Smart Turn", dict(vad_stop_s=0.3)),
    ("VAD stop 0.5 s + Smart Turn", dict(vad_stop_s=0.5)),
    ("VAD stop 0.8 s + Smart Turn", dict(vad_stop_s=0.8)),
    ("VAD stop 0.5 s, no Smart Turn", dict(vad_stop_s=0.5, smart_turn=False)),
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


async def run_setting(label: str, overrides: dict, clips: list[str]) -> dict:
    settings = PipelineSettings(**overrides)
    cut, missed, waits = 0, 0, []
    for name in clips:
        turns = await run_clip(settings, telephone_16k(name))
        if not turns:
            missed += 1
            continue
        cut += len(turns) > 1
        waits.append(turns[-1]["wait_ms"])
    return {"setting": label, "clips": len(clips), "false_cutoffs": cut, "missed": missed,
            "wait_p50_ms": round(statistics.median(waits), 1) if waits else None,
            "wait_p95_ms": round(float(np.percentile(waits, 95)), 1) if waits else None}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--clips", type=int, default=36)
    args = ap.parse_args()
    clips = sorted(transcripts())[: args.clips]
    rows = await asyncio.gather(*(run_setting(label, o, clips) for label, o in GRID))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print("| setting | clips | false cut-offs | missed | end-of-turn wait p50 | p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['setting']} | {r['clips']} | {r['false_cutoffs']} | {r['missed']} | {r['wait_p50_ms']} ms "
              f"| {r['wait_p95_ms']} ms |")


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    from loguru import logger

    logger.remove()
    asyncio.run(main())
