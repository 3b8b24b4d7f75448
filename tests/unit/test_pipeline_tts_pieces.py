"""The SpeechSynthesizer sends only pieces with something to say to the TTS engine (pure logic, a recording engine)."""

from pipecat.frames.frames import TTSAudioRawFrame
from pipecat.tests.utils import run_test

from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import SpeakFrame
from voicebot.pipeline.tts import SpeechSynthesizer
from voicebot.tts.engines import TTSEngine


class Recording(TTSEngine):
    name = "recording"
    sample_rate = 16000

    def __init__(self):
        self.said: list[str] = []

    async def synthesize(self, text: str) -> bytes:
        self.said.append(text)
        return b"\x01\x00" * 160


async def test_a_piece_of_punctuation_alone_is_not_synthesised():
    """An LLM's trailing '…' once reached Piper, which stalled 60 s on it (the latency benchmark's worst turn)."""
    engine = Recording()
    frames = [SpeakFrame(text="Le forfait coûte 90,80 €.", turn=1, last=False), SpeakFrame(text="...", turn=1, last=False),
              SpeakFrame(text=" … ", turn=1, last=True)]
    down, _ = await run_test(SpeechSynthesizer(CallState("c"), engine, None), frames_to_send=frames)
    assert len(engine.said) == 1 and "forfait" in engine.said[0]
    assert sum(isinstance(f, TTSAudioRawFrame) for f in down) == 1
