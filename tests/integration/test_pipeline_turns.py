"""The turn detector with the real Silero VAD and Smart Turn v3, on a committed clip (8 kHz path)."""

from pipecat.frames.frames import InputAudioRawFrame, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.tests.utils import SleepFrame, run_test

from benchmarks.harness import TEST_CLIPS
from benchmarks.turn_tuning import FRAME, telephone_16k
from voicebot.config import PipelineSettings
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import CallerTurnFrame, SpeculativeTurnFrame
from voicebot.pipeline.turns import TurnDetector


async def _frames_for(pcm: bytes, tail_s: float = 2.0):
    pcm = pcm + bytes(int(16000 * tail_s) * 2)
    frames = []
    for i in range(0, len(pcm) - FRAME * 2 + 1, FRAME * 2):
        frames += [InputAudioRawFrame(audio=pcm[i:i + FRAME * 2], sample_rate=16000, num_channels=1), SleepFrame(0.02)]
    return frames


async def test_one_clip_is_one_turn_with_speculation_first():
    state = CallState("t")
    pcm = telephone_16k("029.wav", TEST_CLIPS)
    down, _ = await run_test(TurnDetector(state, PipelineSettings()), frames_to_send=await _frames_for(pcm))
    turns = [f for f in down if isinstance(f, CallerTurnFrame)]
    spec = [f for f in down if isinstance(f, SpeculativeTurnFrame)]
    speech = [f for f in down if isinstance(f, (VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame))]
    assert len(turns) == 1, "the clip was cut into several turns"
    assert isinstance(speech[0], VADUserStartedSpeakingFrame) and isinstance(speech[-1], VADUserStoppedSpeakingFrame)
    # speculative audio came first, and is exactly the final turn's audio (same segment and length)
    assert spec and spec[-1].segment == turns[0].segment and spec[-1].nbytes == turns[0].nbytes
    assert spec[-1].audio == turns[0].audio
    assert down.index(spec[-1]) < down.index(turns[0])
    marks = state.turn(turns[0].turn).marks
    assert 0.2 < marks["turn_end"] - marks["speech_end"] < 2.5
    assert 1.5 < len(turns[0].audio) / 32000 < 4.5  # the 3.4 s clip, trimmed of trailing silence


async def test_no_speculation_when_disabled_and_silence_gives_no_turn():
    state = CallState("t")
    settings = PipelineSettings(speculative_stt=False)
    down, _ = await run_test(TurnDetector(state, settings), frames_to_send=await _frames_for(bytes(32000), 1.0))
    assert not [f for f in down if isinstance(f, (CallerTurnFrame, SpeculativeTurnFrame))]
