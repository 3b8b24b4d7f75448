"""voicebot's own typed frames, for what pipecat has no frame for.

The caller as VAD hears it travels in pipecat's ``VADUserStartedSpeakingFrame``/``VADUserStoppedSpeakingFrame``;
bot text is a ``TTSSpeakFrame`` (``SpeakFrame`` adds the turn).

Each carries the turn index so that the latency record of a turn can be joined across stages, and so
that a frame belonging to a turn that was cancelled (barge-in, continuation) can be recognised and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipecat.frames.frames import ControlFrame, DataFrame, TTSSpeakFrame


@dataclass
class CallerTurnFrame(DataFrame):
    """The audio of one caller turn (16-bit mono PCM at the pipeline rate), once the turn has ended."""

    audio: bytes = b""
    sample_rate: int = 16000
    turn: int = 0
    during_bot: bool = False  # the caller spoke while the bot was speaking (barge-in or backchannel)
    segment: int = 0
    nbytes: int = 0


@dataclass
class SpeculativeTurnFrame(DataFrame):
    """The audio of a turn that may be over (the caller paused): transcribe it now, keep it if the turn ends.

    ``segment``/``nbytes`` identify the audio: the CallerTurnFrame that ends the turn carries the same pair
    when the caller did not go on, and the speculative transcript is then used as the final one.
    """

    audio: bytes = b""
    sample_rate: int = 16000
    segment: int = 0
    nbytes: int = 0


@dataclass
class CallerTranscriptFrame(DataFrame):
    """The final, guarded transcript of a caller turn."""

    text: str = ""
    turn: int = 0
    during_bot: bool = False
    segment: int = 0
    nbytes: int = 0


@dataclass
class SpeculativeTranscriptFrame(DataFrame):
    """The guarded transcript of a pause's audio, before the end of turn is confirmed (early answer)."""

    text: str = ""
    segment: int = 0
    nbytes: int = 0


@dataclass
class SpeakFrame(TTSSpeakFrame):
    """A piece of bot text ready to be spoken (display form, digits kept; normalised for speech by TTS)."""

    turn: int = 0
    kind: str = "answer"  # "answer" | "phrase" (greeting, apology, prompts)
    last: bool = True  # the last piece of this bot turn


@dataclass
class CallActionFrame(ControlFrame):
    """Something the call itself must do after what is queued has been spoken: 'hangup' or 'transfer'."""

    action: str = "hangup"
    reason: str = ""
    queue: str = ""
    data: dict = field(default_factory=dict)
