# SPDX-License-Identifier: EUPL-1.2
"""In-scope spoken questions for timing the product's grounded path (latency benchmark, ``product`` section).

No recorded caller asks about the Région's schemes in the shared clips (they are read sentences and home
assistant commands), so these questions, taken from the knowledge base's evaluation set, are spoken by the
best offline French synthetic voice available here (Kokoro, else espeak-ng) and cached as 16 kHz WAVs.
A synthetic caller is a caveat the results state: real callers are slower and less clear.
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np

# From voicebot/knowledge/samples/eval-idf.jsonl: answerable questions ("paraphrase" and "spoken" kinds).
QUESTIONS = [
    "Combien coûte le passe Navigo par mois ?",
    "Quel est le prix du forfait Navigo annuel ?",
    "Combien il coûte le ticket de métro maintenant ?",
    "Quel montant pour l'aide régionale au permis de conduire ?",
    "Quel est le prix de l'abonnement imagine R pour un lycéen cette année ?",
    "Combien coûte le pass imagine R Junior pour mon fils de sept ans ?",
    "Je suis au RSA, est-ce que je peux avoir les transports gratuits ?",
    "Quelle aide pour acheter un vélo électrique ?",
    "Combien coûte un repas à la cantine du lycée ?",
    "Les manuels scolaires sont-ils gratuits au lycée ?",
    "Est-ce que mon fils qui entre en seconde va recevoir un ordinateur ?",
    "Quel est le plafond de la subvention PM'up ?",
]


def _write_wav(path: Path, pcm16: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16.astype(np.int16).tobytes())


async def _synth(texts: list[str]) -> tuple[str, list[tuple[bytes, int]]]:
    from voicebot.tts.engines import EspeakEngine, KokoroEngine, TTSError

    try:
        engine = KokoroEngine()
        await engine.start()
        name = f"Kokoro-82M ({engine.voice}) on espeak-ng French phonemes"
    except (TTSError, ImportError):
        engine = EspeakEngine("fr-fr")
        name = "espeak-ng fr-fr"
    return name, [(await engine.synthesize(t), engine.sample_rate) for t in texts]


def spoken_questions(out_dir: Path) -> list[dict]:
    """[{file, text, voice}] of WAVs in ``out_dir`` (made once; 0.4 s of silence before each question)."""
    index = out_dir / "index.json"
    if index.is_file():
        made = json.loads(index.read_text())
        if [m["text"] for m in made] == QUESTIONS and all((out_dir / m["file"]).is_file() for m in made):
            return made
    import soxr

    out_dir.mkdir(parents=True, exist_ok=True)
    voice, audio = asyncio.run(_synth(QUESTIONS)) if not _in_loop() else _synth_in_thread()
    made = []
    for i, (text, (pcm, rate)) in enumerate(zip(QUESTIONS, audio, strict=True)):
        x = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        x = soxr.resample(x, rate, 16000) if rate != 16000 else x
        x = np.concatenate([np.zeros(6400, np.float32), x, np.zeros(3200, np.float32)])
        name = f"q{i + 1:02d}.wav"
        _write_wav(out_dir / name, np.clip(x, -32768, 32767), 16000)
        made.append({"file": name, "text": text, "voice": voice})
    index.write_text(json.dumps(made, ensure_ascii=False, indent=1))
    return made


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _synth_in_thread():
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(lambda: asyncio.run(_synth(QUESTIONS))).result()
