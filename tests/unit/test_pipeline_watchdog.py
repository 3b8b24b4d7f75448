"""Call hygiene timers with pipecat's test runner (real time, no models)."""

import time

from pipecat.frames.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame
from pipecat.tests.utils import SleepFrame, run_test

from voicebot.config import PipelineSettings
from voicebot.french import phrases
from voicebot.pipeline.call_control import CallWatchdog
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import CallActionFrame, SpeakFrame


async def test_silence_prompts_once_then_says_goodbye_and_hangs_up():
    state = CallState("c")
    settings = PipelineSettings(silence_timeout_s=2.0)
    state.last_caller_activity = state.last_bot_activity = time.monotonic()
    down, _ = await run_test(CallWatchdog(state, settings, tick_s=0.05), frames_to_send=[SleepFrame(5.0)])
    out = [f for f in down if isinstance(f, (SpeakFrame, CallActionFrame))]
    assert [getattr(f, "text", None) or f.action for f in out] == [phrases.STILL_THERE, phrases.GOODBYE_SILENCE, "hangup"]
    assert out[-1].reason == "silence"


async def test_caller_speech_resets_the_silence_prompt():
    state = CallState("c")
    settings = PipelineSettings(silence_timeout_s=2.0)
    frames = [SleepFrame(1.5), VADUserStartedSpeakingFrame(), SleepFrame(1.5), VADUserStoppedSpeakingFrame(),
              SleepFrame(1.5)]
    state.last_caller_activity = state.last_bot_activity = time.monotonic()
    down, _ = await run_test(CallWatchdog(state, settings, tick_s=0.05), frames_to_send=frames)
    assert not [f for f in down if isinstance(f, SpeakFrame)]  # 3 s in all, 4.5 s in all, never 2 s of silence


async def test_maximum_call_duration():
    state = CallState("c")
    state.bot_speaking = True  # no silence prompt while the bot talks; only the duration limit applies
    down, _ = await run_test(CallWatchdog(state, PipelineSettings(max_call_s=10.0), tick_s=0.05),
                             frames_to_send=[SleepFrame(10.5)])
    out = [f for f in down if isinstance(f, (SpeakFrame, CallActionFrame))]
    assert [type(f) for f in out] == [SpeakFrame, CallActionFrame]
    assert out[0].text == phrases.GOODBYE_MAX_DURATION and out[1].reason == "max_duration"
