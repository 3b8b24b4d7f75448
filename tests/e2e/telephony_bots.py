"""Model-free bots for telephony tests and the telephony benchmark (never used in production).

- ``echo``: what the caller says comes straight back (through the real pipecat transport).
- ``replay``: the bot speaks a WAV clip in a loop and counts what it hears (telephony CPU cost).
Both record what the pipeline received (PCM16 at the pipeline input rate) and the DTMF digits.

Also runnable as a worker process: ``python tests/e2e/telephony_bots.py --port 5081 --mode echo``
(used behind kamailio, where each worker is its own process).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipecat.frames.frames import (Frame, InputAudioRawFrame, InputDTMFFrame,  # noqa: E402
                                   OutputAudioRawFrame)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402


@dataclass
class CallRecord:
    call_id: str
    sample_rate: int
    audio: bytearray = field(default_factory=bytearray)
    digits: list[str] = field(default_factory=list)
    end_reason: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


class EchoOrReplay(FrameProcessor):
    def __init__(self, record: CallRecord, replay_pcm: bytes | None, replay_rate: int, hangup_after_s: float | None,
                 session, **kwargs) -> None:
        super().__init__(**kwargs)
        self._record = record
        self._replay_pcm = replay_pcm
        self._replay_rate = replay_rate
        self._hangup_after_s = hangup_after_s
        self._session = session
        self._started = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._record.audio.extend(frame.audio)
            if not self._started:
                self._started = True
                if self._replay_pcm is not None:
                    self.create_task(self._replay())
                if self._hangup_after_s:
                    self.create_task(self._hangup_later())
            if self._replay_pcm is None:
                await self.push_frame(OutputAudioRawFrame(audio=frame.audio, sample_rate=frame.sample_rate,
                                                          num_channels=1))
            return
        if isinstance(frame, InputDTMFFrame):
            self._record.digits.append(str(frame.button.value))
            return
        await self.push_frame(frame, direction)

    async def _replay(self) -> None:
        """Speak the clip in a loop, at most 200 ms ahead of real time (as a streaming TTS would)."""
        step = self._replay_rate // 50 * 2  # 20 ms of PCM16
        pcm = self._replay_pcm or b""
        loop = asyncio.get_running_loop()
        start = loop.time()
        k = 0
        while True:
            for i in range(0, len(pcm) - step + 1, step):
                ahead = start + k * 0.02 - 0.2 - loop.time()
                if ahead > 0:
                    await asyncio.sleep(ahead)
                await self.push_frame(OutputAudioRawFrame(audio=pcm[i:i + step], sample_rate=self._replay_rate,
                                                          num_channels=1))
                k += 1

    async def _hangup_later(self) -> None:
        await asyncio.sleep(self._hangup_after_s or 0)
        await self._session.hangup("bot_hangup")


def read_wav(path: str | Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, "mono PCM16 WAV expected"
        return w.readframes(w.getnframes()), w.getframerate()


class BotFactory:
    """Builds an ``on_call`` callback; keeps a record per call for the test to inspect."""

    def __init__(self, mode: str = "echo", sample_rate: int = 16000, replay_wav: str | None = None,
                 hangup_after_s: float | None = None) -> None:
        self.mode = mode
        self.sample_rate = sample_rate
        self.replay = read_wav(replay_wav) if replay_wav else None
        self.hangup_after_s = hangup_after_s
        self.records: list[CallRecord] = []
        self.sessions: list = []
        self.new_call = asyncio.Event()

    async def on_call(self, transport, session) -> None:
        record = CallRecord(session.info.call_id, self.sample_rate)
        self.records.append(record)
        self.sessions.append(session)
        self.new_call.set()
        pcm, rate = self.replay if (self.mode == "replay" and self.replay) else (None, self.sample_rate)
        bot = EchoOrReplay(record, pcm, rate, self.hangup_after_s, session)
        worker = PipelineWorker(Pipeline([transport.input(), bot, transport.output()]),
                                params=PipelineParams(audio_in_sample_rate=self.sample_rate,
                                                      audio_out_sample_rate=self.sample_rate),
                                idle_timeout_secs=None, enable_rtvi=False, check_dangling_tasks=False)
        runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
        await runner.add_workers(worker)
        try:
            await runner.run()
        finally:
            record.end_reason = getattr(transport, "end_reason", "")
            record.done.set()


async def _serve(port: int, mode: str, host: str, calls_file: str | None) -> None:
    from voicebot.telephony.settings import SipSettings
    from voicebot.telephony.sip_transport import SipEndpoint

    factory = BotFactory(mode)

    async def on_call(transport, session) -> None:
        if calls_file:
            with open(calls_file, "a") as f:
                f.write(session.info.call_id + "\n")
        await factory.on_call(transport, session)

    endpoint = SipEndpoint(SipSettings(host=host, port=port, enabled=True), on_call)  # busy RTP ports are skipped
    await endpoint.start()
    print(f"ready {endpoint.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await endpoint.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", default="echo", choices=["echo", "replay"])
    parser.add_argument("--calls-file", help="append each answered Call-ID to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from loguru import logger

    logger.remove()
    asyncio.run(_serve(args.port, args.mode, args.host, args.calls_file))
