"""Builds the per-call pipecat pipeline from the process-wide services.

    transport.in → TurnDetector (Silero VAD + Smart Turn v3, barge-in) → CallWatchdog → WhisperSTT (+guard)
    → Responder (answerer: LLM / knowledge) → SpeechSynthesizer (French normalisation + TTS)
    → transport.out → CallActions (hang-up, transfer)

Heavy things (Whisper, Smart Turn, TTS worker processes, the LLM server) live in ``Services``, loaded
once per process; a call only builds its processors and a small ``CallState``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from pipecat.frames.frames import AudioRawFrame, Frame, InputAudioRawFrame, TTSAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.transports.base_transport import BaseTransport

from voicebot.config import Settings
from voicebot.dialogue.factory import build_flows
from voicebot.dialogue.manager import DialogueManager
from voicebot.llm.client import VoiceAnswerer
from voicebot.pipeline.call_control import CallActions, CallWatchdog
from voicebot.pipeline.call_state import CallState, Publisher
from voicebot.pipeline.frames import SpeakFrame
from voicebot.pipeline.responder import Responder
from voicebot.pipeline.turns import TurnDetector
from voicebot.stt.guard import TranscriptGuard
from voicebot.pipeline.stt import WhisperSTT
from voicebot.stt.whisper import WhisperEngine
from voicebot.call import CallSession
from voicebot.tts.engines import TTSEngine
from voicebot.pipeline.tts import PhraseCache, SpeechSynthesizer

log = logging.getLogger(__name__)

AudioTap = Callable[[bytes, int], None]


class ListenTap(FrameProcessor):
    """Hands a copy of the audio frames of one kind to a listener (supervisor listen-in); passes all on."""

    def __init__(self, tap: AudioTap, kind: type[AudioRawFrame], **kwargs):
        super().__init__(**kwargs)
        self._tap = tap
        self._kind = kind

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, self._kind):
            self._tap(frame.audio, frame.sample_rate)
        await self.push_frame(frame, direction)


@dataclass
class Services:
    """What every call of a worker shares."""

    settings: Settings
    whisper: WhisperEngine
    tts: TTSEngine
    answerer: VoiceAnswerer
    phrase_cache: PhraseCache | None
    guard: TranscriptGuard = field(default_factory=TranscriptGuard)
    transfer_targets: dict[str, str] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)


def build_call(services: Services, transport: BaseTransport, session: CallSession,
               publish: Publisher | None = None, on_turn: Callable[[dict], None] | None = None,
               audio_tap: AudioTap | None = None) -> tuple[PipelineWorker, CallState]:
    s = services.settings
    rate = s.pipeline.sample_rate
    state = CallState(session.info.call_id, publish=publish, on_turn=on_turn, keep_raw=s.calls.store_raw_text)
    pipeline = Pipeline([
        transport.input(),
        *([ListenTap(audio_tap, InputAudioRawFrame)] if audio_tap else []),
        TurnDetector(state, s.pipeline, sample_rate=rate),
        CallWatchdog(state, s.pipeline),
        WhisperSTT(state, services.whisper, services.guard,
                   early_answer=s.pipeline.early_answer and s.pipeline.speculative_stt),
        Responder(state, services.answerer, history_turns=s.llm.history_turns, first_clause=s.pipeline.first_clause,
                  first_token_timeout_s=s.llm.first_token_timeout_s,
                  dialogue=DialogueManager(services.answerer, build_flows(s, session.info.call_id),
                                           history_turns=s.llm.history_turns)),
        SpeechSynthesizer(state, services.tts, services.phrase_cache, sample_rate=rate),
        *([ListenTap(audio_tap, TTSAudioRawFrame)] if audio_tap else []),
        transport.output(),
        CallActions(state, session, transfer_targets=services.transfer_targets),
    ])
    task = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=rate, audio_out_sample_rate=rate, enable_metrics=False),
        idle_timeout_secs=None,
        enable_rtvi=False,
        cancel_on_idle_timeout=False,
        check_dangling_tasks=False,
        name=f"call-{session.info.call_id}",
    )
    return task, state


def greeting_frame(services: Services) -> SpeakFrame | None:
    text = services.settings.pipeline.greeting.strip()
    return SpeakFrame(text=text, turn=0, kind="phrase") if text else None
