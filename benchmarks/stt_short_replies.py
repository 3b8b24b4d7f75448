"""Short caller replies through Whisper on each encoder window: does the dialogue still hear "oui"?

Whisper was trained on 30-s windows; a window cut close to a one-second reply loses it more often
("Oui, d'accord." came back "Wida ko" at 8 kHz on a 10-s window). Yes/no, goodbye and transfer replies
steer the dialogue, so this scores each window by the intent the dialogue manager finds in the
transcript (the same `intents.classify` a call uses, after an offer), besides the words.

The replies are synthetic (two Kokoro voices and espeak-ng's French voice), each sent through the
telephone path (8 kHz and back) as calls hear them.

Run: python benchmarks/stt_short_replies.py [--json OUT] [--windows full speech:10 speech:20 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

from benchmarks.spoken_answers import KokoroCaller
from benchmarks.spoken_answers import synthesise as espeak_fr
from benchmarks.text_metrics import normalise_words, wer
from voicebot.config import load_settings
from voicebot.dialogue import intents
from voicebot.models import resolve
from voicebot.stt.whisper import WhisperEngine

# Replies a caller gives to the bot's offers and questions; what the dialogue must hear in each.
REPLIES = [
    ("Oui.", "yes"), ("Non.", "no"), ("Oui, d'accord.", "yes"), ("Non merci.", "no"),
    ("Oui, s'il vous plaît.", "yes"), ("Non, ça ira.", "no"), ("Tout à fait.", "yes"),
    ("Pas du tout.", "no"), ("Merci, au revoir.", "goodbye"), ("Au revoir.", "goodbye"),
    ("Un conseiller, s'il vous plaît.", "transfer"), ("Je veux parler à quelqu'un.", "transfer"),
    ("Vous pouvez répéter ?", "repeat"), ("Oui, allez-y.", "yes"), ("Non, c'est tout.", "goodbye"),
    ("D'accord, merci.", "yes"),
]
VOICES = ("kokoro:jf_gongitsune", "kokoro:jm_kumo", "espeak:fr")  # espeak: its French voice only


def synthesise(voices: tuple[str, ...], folder: Path) -> list[tuple[str, str, str, np.ndarray]]:
    """(voice, text, intent, 16-kHz float audio through the 8-kHz telephone path) for every reply."""
    out = []
    for voice in voices:
        kind, name = voice.split(":", 1)
        speak = KokoroCaller(name) if kind == "kokoro" else espeak_fr
        for i, (text, intent) in enumerate(REPLIES):
            path = speak(text, folder / f"{kind}-{name}-{i}.wav")
            with wave.open(str(path)) as w:
                rate = w.getframerate()
                x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
            x = soxr.resample(x, rate, 8000)  # the telephone line
            # As the turn detector hands it over: 0.3 s before the speech, the pause until the turn's end
            # (0.56 s p50 in the latency benchmark) after it; the voices' own leading and trailing silence
            # (up to a second for Kokoro) would make every reply look longer than a call's turn.
            x = _speech_only(x)
            x = np.concatenate([np.zeros(2400, np.float32), x, np.zeros(4480, np.float32)])
            out.append((voice, text, intent, soxr.resample(x, 8000, 16000)))
        if isinstance(speak, KokoroCaller):
            speak.close()
    return out


def _speech_only(x: np.ndarray, rate: int = 8000) -> np.ndarray:
    """The audio from the first to the last 20-ms frame within 35 dB of the loudest."""
    n = rate // 50
    frames = x[: len(x) // n * n].reshape(-1, n)
    db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)
    loud = np.flatnonzero(db > db.max() - 35)
    return x[loud[0] * n:(loud[-1] + 1) * n] if len(loud) else x


def heard(text: str) -> str:
    """The intent a call finds in a transcript right after the bot's yes/no offer."""
    intent = intents.classify(text, offered=True)
    return intent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--windows", nargs="+", default=["full", "speech:10:0", "speech:10:1.5", "speech:10:2", "speech:10:2.5"],
                    help="'full' or 'speech:MIN_S[:FULL_BELOW_S]' (stt.encoder_window, encoder_min_s, "
                    "encoder_full_below_s)")
    ap.add_argument("--voices", nargs="+", default=list(VOICES))
    args = ap.parse_args()
    path = resolve("stt", load_settings()).path
    with tempfile.TemporaryDirectory() as tmp:
        clips = synthesise(tuple(args.voices), Path(tmp))
    result: dict = {"model": str(path), "replies": len(REPLIES), "voices": args.voices,
                    "path": "16 kHz synthesis -> 8 kHz -> 16 kHz, whisper int8 greedy", "windows": {}}
    for spec in args.windows:
        kind, _, rest = spec.partition(":")
        min_s, _, full_below = rest.partition(":")
        engine = WhisperEngine(path, encoder_window=kind, encoder_min_s=float(min_s or 10),
                               encoder_full_below_s=float(full_below or 0))
        engine.transcribe(np.zeros(16000, dtype=np.float32))  # warm-up, not timed
        rows, ms = [], []
        for voice, text, intent, audio in clips:
            t = engine.transcribe(audio)
            ms.append(t.elapsed_s * 1000)
            rows.append({"voice": voice, "said": text, "audio_s": round(len(audio) / 16000, 2), "want": intent, "heard": t.text,
                         "intent": heard(t.text), "wer": round(wer(text, t.text), 3)})
        ok = sum(r["intent"] == r["want"] for r in rows)
        words = sum(len(normalise_words(r["said"])) for r in rows)
        result["windows"][spec] = {
            "intent_right": ok, "of": len(rows), "intent_accuracy": round(ok / len(rows), 3),
            "wer": round(sum(r["wer"] * len(normalise_words(r["said"])) for r in rows) / words, 3),
            "ms_p50": round(statistics.median(ms)), "ms_p95": round(float(np.percentile(ms, 95))),
            "window_retries": engine.window_retries, "rows": rows}
        print(f"{spec:10s} intent {ok}/{len(rows)}  WER {result['windows'][spec]['wer']:.3f}  "
              f"ms p50 {result['windows'][spec]['ms_p50']}  retries {engine.window_retries}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
