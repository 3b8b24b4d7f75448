"""End-of-turn tuning on the shared clips: how long the turn detector waits, and how often it cuts a caller off.

Each clip goes through voicebot's own TurnDetector (Silero VAD + Smart Turn v3, no other model), on the
8 kHz telephone path resampled to 16 kHz as the pipeline does, paced in real time, followed by silence.
A clip that yields more than one caller turn is a false cut-off (the caller had not finished); the wait
is turn end − last speech. Settings are run concurrently (they share only the CPU, lightly).

With ``--paused``, the clips are spoken questions with a pause in the middle: a first clause, then 400 to
900 ms of silence or a hesitation ("euh"), then the rest of the question (both parts spoken by the offline
voice of benchmarks/product_questions.py). Any turn ending before the second part is a false cut-off:
the bot would answer the clause before the question came.

With ``--spliced``, real recorded sentences (a human voice) get 400, 650 or 900 ms of silence inserted
between two words in the middle: again, any turn before the second part is a false cut-off.

Run: python -m benchmarks.turn_tuning [--json FILE] [--clips N] [--paused | --spliced]
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

GRID = [  # label, settings (each explicit: the defaults move)
    ("VAD stop 0.5 s + Smart Turn 0.5 (the default)", dict(vad_stop_s=0.5, smart_turn=True)),
    ("VAD stop 0.2 s + Smart Turn 0.5", dict(vad_stop_s=0.2, smart_turn=True)),
    ("VAD stop 0.3 s + Smart Turn 0.5", dict(vad_stop_s=0.3, smart_turn=True)),
    ("VAD stop 0.2 s + Smart Turn 0.7", dict(vad_stop_s=0.2, smart_turn=True, smart_turn_threshold=0.7)),
    ("VAD stop 0.3 s + Smart Turn 0.7", dict(vad_stop_s=0.3, smart_turn=True, smart_turn_threshold=0.7)),
    ("VAD stop 0.5 s + Smart Turn 0.7", dict(vad_stop_s=0.5, smart_turn=True, smart_turn_threshold=0.7)),
    ("VAD stop 0.3 s + Smart Turn 0.85", dict(vad_stop_s=0.3, smart_turn=True, smart_turn_threshold=0.85)),
    ("VAD stop 0.2 s, no Smart Turn", dict(vad_stop_s=0.2, smart_turn=False)),
    ("VAD stop 0.3 s, no Smart Turn", dict(vad_stop_s=0.3, smart_turn=False)),
    ("VAD stop 0.5 s, no Smart Turn", dict(vad_stop_s=0.5, smart_turn=False)),
    ("VAD stop 1.0 s, no Smart Turn", dict(vad_stop_s=1.0, smart_turn=False)),
]
# Real recorded read sentences (Picovoice, FLEURS): long enough to pause in the middle.
SPLICE_CLIPS = ["001.wav", "002.wav", "004.wav", "005.wav", "006.wav", "007.wav", "008.wav", "009.wav", "010.wav",
                "011.wav"]
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


def trim_silence(x: np.ndarray, margin_s: float = 0.03) -> np.ndarray:
    """16 kHz int16 speech without the leading and trailing silence a TTS engine pads it with.

    Kokoro pads both ends (and a trailing comma adds a pause): without trimming, a "400 ms" pause was over
    1 s of silence, and every setting cut every clip.
    """
    frame = 160
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt((x[: n * frame].astype(np.float32).reshape(n, frame) ** 2).mean(axis=1))
    loud = np.nonzero(rms > max(0.03 * float(rms.max()), 100.0))[0]
    if not loud.size:
        return x
    margin = int(margin_s * 16000)
    return x[max(0, loud[0] * frame - margin): min(len(x), (loud[-1] + 1) * frame + margin)]


async def paused_clips() -> dict[str, bytes]:
    """{label: 16 kHz PCM} of clause + pause or "euh" + rest, for every PAUSED question and pause kind."""
    from benchmarks.product_questions import _synth

    texts = [t for pair in PAUSED for t in pair] + ["euh"]
    voice, audio = await _synth(texts)
    parts = [trim_silence(to_telephone_16k(pcm, rate)) for pcm, rate in audio]
    euh, out = parts[-1], {}
    for i in range(len(PAUSED)):
        first, rest = parts[2 * i], parts[2 * i + 1]
        for kind, pause_s in PAUSE_KINDS:
            gap = (np.concatenate([np.zeros(1600, np.int16), euh, np.zeros(4800, np.int16)]) if pause_s is None
                   else np.zeros(int(16000 * pause_s), np.int16))
            out[f"{i + 1:02d} {kind}"] = np.concatenate([np.zeros(3200, np.int16), first, gap, rest]).tobytes()
    paused_clips.voice = voice  # type: ignore[attr-defined]
    return out


def spliced_clips(clips: Path = CLIPS) -> dict[str, bytes]:
    """{label: 16 kHz PCM} of real recorded sentences with silence inserted between two words mid-sentence.

    The word boundary nearest the middle of the speech (at least two words on each side) comes from the
    embedded Whisper's word timestamps; the pause lengths are PAUSE_KINDS' silences. A human voice whose
    prosody says "not finished", which the synthetic questions of ``--paused`` cannot promise.
    """
    from faster_whisper import WhisperModel

    from voicebot.config import load_settings
    from voicebot.models import resolve

    model = WhisperModel(str(resolve("stt", load_settings()).path), compute_type="int8", cpu_threads=2)
    out = {}
    for name in SPLICE_CLIPS:
        pcm = np.frombuffer(telephone_16k(name, clips), np.int16)
        segs, _ = model.transcribe(pcm.astype(np.float32) / 32768, language="fr", beam_size=1,
                                   word_timestamps=True, vad_filter=False, condition_on_previous_text=False)
        words = [w for seg in segs for w in (seg.words or [])]
        if len(words) < 5:
            continue
        middle = (words[0].start + words[-1].end) / 2
        cut = min(((words[i].end + words[i + 1].start) / 2 for i in range(1, len(words) - 2)),
                  key=lambda t: abs(t - middle))
        k = int(cut * 16000)
        for kind, pause_s in PAUSE_KINDS:
            if pause_s is not None:
                gap = np.zeros(int(16000 * pause_s), np.int16)
                out[f"{name[:3]} {kind}"] = np.concatenate([pcm[:k], gap, pcm[k:]]).tobytes()
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
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    ap.add_argument("--clips", type=int, default=0, help="only the first N clips (default: all)")
    ap.add_argument("--paused", action="store_true", help="spoken questions with a mid-sentence pause or 'euh'")
    ap.add_argument("--spliced", action="store_true", help="real recorded sentences with a pause inserted mid-sentence")
    args = ap.parse_args()
    audio = await paused_clips() if args.paused else spliced_clips() if args.spliced else None
    clips = sorted(audio)[: args.clips or None] if audio else sorted(transcripts())[: args.clips or None]
    rows = await asyncio.gather(*(run_setting(label, o, clips, audio) for label, o in GRID))
    if args.paused:
        print(f"clips: {len(clips)} questions with a mid-sentence pause, voice: {paused_clips.voice}")
    elif args.spliced:
        print(f"clips: {len(clips)} real recorded sentences with a pause inserted between two words mid-sentence")
    if args.json:
        args.json.write_text(json.dumps({"loadavg_after": Path("/proc/loadavg").read_text().strip(), "rows": rows},
                                        indent=1, ensure_ascii=False))
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
