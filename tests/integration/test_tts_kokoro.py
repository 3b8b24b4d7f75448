"""The Kokoro engine: French text -> espeak-ng IPA (separate process) -> Kokoro-82M int8 ONNX -> speech."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.tts.engines import KokoroEngine, TTSError, espeak_phonemes

pytestmark = pytest.mark.models


async def test_kokoro_speaks_french_phonemes():
    engine = KokoroEngine("jm_kumo", threads=2)
    await engine.start()
    ipa = await espeak_phonemes("Le ticket de métro coûte deux euros.", "fr")
    tokens = engine.tokens(ipa)
    assert len(tokens) >= 0.8 * len(ipa.replace(" ", ""))  # nearly every French IPA symbol is in the model
    marked = await espeak_phonemes("Bonjour, vous êtes toujours là ?", "fr", punctuation=True)
    assert ", " in marked and marked.endswith("?")  # the model hears the comma's pause and the question
    assert {engine._vocab[","], engine._vocab["?"]} <= set(engine.tokens(marked))
    pcm = await engine.synthesize("Le ticket de métro coûte deux euros.")
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    seconds = len(audio) / engine.sample_rate
    assert engine.sample_rate == 24000 and 1.0 < seconds < 6.0
    assert np.sqrt((audio ** 2).mean()) > 300  # speech, not silence


async def test_an_unknown_voice_is_one_clear_error():
    with pytest.raises(TTSError, match="unknown Kokoro voice"):
        await KokoroEngine("fr_nobody").start()
