# SPDX-License-Identifier: EUPL-1.2
"""The stock-pipecat reference server: what pipecat 1.14 gives out of the box, for the latency benchmark.

    python -m benchmarks.reference.stock_server --port 8100 --llm-base-url http://127.0.0.1:8011/v1 \\
        --whisper-model var/models/whisper-base --piper-voice VOICE.onnx [--piper-url http://H:P/synthesize]

It serves voicebot's binary WebSocket protocol (``/ws/pcm?rate=8000``, wire format from voicebot's
``PcmSerializer``; ``connected``, ``turn`` and ``error`` JSON events) so that the same caller measures both
servers. Everything in the pipeline is pipecat's own, with its defaults:

    FastAPIWebsocketTransport → WhisperSTTService (faster-whisper, cpu, compute type "default", French)
    → LLMContextAggregatorPair user aggregator (SileroVADAnalyzer, default turn strategies: VAD start,
      Smart Turn v3 stop) → OpenAILLMService (the given OpenAI-compatible server) → PiperHttpTTSService
    → transport output → assistant aggregator; run by a PipelineWorker on a WorkerRunner.

Only the wiring around it is ours: the ``turn`` events (an observer, nothing added to the pipeline), the
Piper HTTP server as a child process, and loading the Whisper model off the event loop.

Like for like (what ``voicebot bench latency`` passes; each flag is NOT stock and is recorded in latency.json):
``--whisper-compute-type int8`` matches voicebot's CTranslate2 compute type, ``--whisper-beam-size 1
--whisper-decoding voicebot`` its decoding (one temperature, no fallback, no timestamps, no Whisper VAD:
``voicebot.stt.whisper.DECODE_OPTIONS``). In every mode the Whisper model and the Smart Turn ONNX session
are loaded once and shared by all calls, warm, as voicebot does (stock pipecat loads both per call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import types
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse
from loguru import logger
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language
from pipecat.turns.user_stop.turn_analyzer_user_turn_stop_strategy import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner
from starlette.websockets import WebSocketState

from benchmarks.reference.piper_http import PiperHttpServer, PiperServerError
from benchmarks.reference.turn_events import TurnEventObserver
from voicebot.stt.whisper import DECODE_OPTIONS
from voicebot.telephony.serializers import PcmSerializer

GREETING = ("Bonjour, vous êtes en ligne avec l'assistant vocal de la Région Île-de-France. "
            "Comment puis-je vous aider ?")
SYSTEM_PROMPT = ("Tu es l'assistant vocal de la Région Île-de-France. "
                 "Réponds en français, en une à trois phrases courtes.")
LLM_MODEL = "embedded"
ALLOWED_RATES = (8000, 16000)
MAX_MESSAGE_BYTES = 64 * 1024
PIPELINE_RATE = 16000

log = logging.getLogger("benchmarks.reference")


def _import_piper_http_tts():
    """pipecat's ``PiperHttpTTSService``, without loading Piper (GPL) into this process.

    ``pipecat.services.piper.tts`` imports ``piper`` at module level for its *other*, in-process class;
    the HTTP class never uses it. Placeholders stand in for those two names during the import, so Piper
    stays in its own process (and need not even be installed where --piper-url points elsewhere).
    """
    if "pipecat.services.piper.tts" not in sys.modules:
        def unavailable(*_a, **_k):
            raise RuntimeError("in-process Piper is deliberately not loaded in the stock server")

        stubs = {"piper": types.ModuleType("piper"), "piper.download_voices": types.ModuleType("piper.download_voices")}
        stubs["piper"].PiperVoice = type("PiperVoice", (), {"load": staticmethod(unavailable)})
        stubs["piper.download_voices"].download_voice = unavailable
        saved = {name: sys.modules.get(name) for name in stubs}
        sys.modules.update(stubs)
        try:
            import pipecat.services.piper.tts  # noqa: F401
        finally:
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
    return sys.modules["pipecat.services.piper.tts"].PiperHttpTTSService


PiperHttpTTSService = _import_piper_http_tts()


@dataclass(frozen=True)
class StockConfig:
    llm_base_url: str
    whisper_model: Path
    piper_url: str
    whisper_compute_type: str = "default"
    whisper_beam_size: int = 5  # faster-whisper's default
    whisper_decoding: str = "stock"  # "stock": faster-whisper's defaults; "voicebot": DECODE_OPTIONS
    llm_max_tokens: int | None = None  # None: pipecat's default (no limit: the server's context decides)
    llm_temperature: float | None = None

    def llm_sampling(self) -> dict:
        """The sampling settings given on the command line (the others stay pipecat's defaults)."""
        return {k: v for k, v in (("max_tokens", self.llm_max_tokens), ("temperature", self.llm_temperature))
                if v is not None}


class SharedWhisper:
    """One loaded WhisperModel for every call; ``transcribe`` applies the run's fixed decoding options."""

    def __init__(self, config: StockConfig):
        from faster_whisper import WhisperModel

        self._model = WhisperModel(str(config.whisper_model), device="cpu", compute_type=config.whisper_compute_type)
        self.supported_languages = self._model.supported_languages
        self.options: dict = {"beam_size": config.whisper_beam_size}
        if config.whisper_decoding == "voicebot":
            self.options.update(DECODE_OPTIONS)

    def transcribe(self, audio, **kwargs):
        return self._model.transcribe(audio, **{**kwargs, **self.options})


class WarmWhisperSTTService(WhisperSTTService):
    """pipecat's WhisperSTTService, untouched but for ``_load``: the process's warm model instead of a new one."""

    shared: SharedWhisper | None = None

    def _load(self):
        assert self.shared is not None, "SharedWhisper not loaded"
        self._model = self.shared  # type: ignore[assignment]


class WarmSmartTurn(LocalSmartTurnAnalyzerV3):
    """pipecat's Smart Turn v3 analyzer (per-call state) on one ONNX session shared by all calls."""

    session = None

    def __init__(self, **kwargs):
        if WarmSmartTurn.session is None:
            LocalSmartTurnAnalyzerV3.__init__(self, **kwargs)
            WarmSmartTurn.session = self._session
            return
        BaseSmartTurn.__init__(self, **kwargs)
        self._log_data = False
        self._session = WarmSmartTurn.session


class LlamaCppLLMService(OpenAILLMService):
    """pipecat's OpenAI service, told (by pipecat's own switch) that the llama.cpp server has no "developer" role.

    pipecat adds a "developer" message when the caller speaks over the bot; llama-cpp-python's server rejects
    that role (HTTP 500), which failed every later turn of the call. Subclasses for such providers set
    ``supports_developer_role = False`` and pipecat sends those messages as "user" messages instead.
    """

    supports_developer_role = False


class EventOutbox:
    """JSON text events to the caller, in order, never blocking the pipeline."""

    def __init__(self, ws: WebSocket):
        self._ws = ws
        self._queue: asyncio.Queue[dict | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    def send(self, msg: dict) -> None:
        self._queue.put_nowait(msg)

    async def _run(self) -> None:
        while (msg := await self._queue.get()) is not None:
            if self._ws.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):  # the caller may be gone
                    await self._ws.send_text(json.dumps(msg, ensure_ascii=False))

    async def close(self) -> None:
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 2.0)


async def run_call(ws: WebSocket, rate: int, config: StockConfig, http: aiohttp.ClientSession) -> None:
    """One call: the stock pipeline on this WebSocket, until the caller hangs up."""
    call_id = uuid.uuid4().hex[:16]
    outbox = EventOutbox(ws)
    outbox.send({"event": "connected", "call_id": call_id, "rate": rate})

    def on_error(code: str, message: str) -> None:
        outbox.send({"event": "error", "code": code, "message": message})

    def on_control(msg: dict) -> None:
        if msg["event"] == "hangup":
            asyncio.get_running_loop().create_task(ws.close(1000, "caller_hangup"))
        elif msg["event"] == "ping":
            outbox.send({"event": "pong"})

    serializer = PcmSerializer(rate, max_bytes=MAX_MESSAGE_BYTES, on_error=on_error, on_control=on_control)
    transport = FastAPIWebsocketTransport(
        websocket=ws,
        params=FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
                                      serializer=serializer),
    )
    # Stock pipecat loads the model in the constructor (per call); here it is the process's warm one.
    stt = WarmWhisperSTTService(device="cpu", compute_type=config.whisper_compute_type,
                                settings=WhisperSTTService.Settings(model=str(config.whisper_model),
                                                                    language=Language.FR))
    llm = LlamaCppLLMService(base_url=config.llm_base_url, api_key="x",
                           settings=OpenAILLMService.Settings(model=LLM_MODEL, system_instruction=SYSTEM_PROMPT,
                                                              **config.llm_sampling()))
    tts = PiperHttpTTSService(base_url=config.piper_url, aiohttp_session=http)
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        LLMContext(), user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(),
            # pipecat's default stop strategy (Smart Turn v3), on the shared session
            user_turn_strategies=UserTurnStrategies(stop=[TurnAnalyzerUserTurnStopStrategy(
                turn_analyzer=WarmSmartTurn())])))
    pipeline = Pipeline([transport.input(), stt, user_aggregator, llm, tts, transport.output(),
                         assistant_aggregator])

    turns = TurnEventObserver(llm, outbox.send)
    user_aggregator.add_event_handler("on_user_turn_stopped", turns.on_user_turn_stopped)
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=PIPELINE_RATE, audio_out_sample_rate=PIPELINE_RATE),
        observers=[turns],
    )

    @transport.event_handler("on_client_connected")
    async def on_client_connected(_transport, _client):
        await worker.queue_frames([TTSSpeakFrame(GREETING)])

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport, _client):
        await worker.cancel()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        await runner.run()
    finally:
        await outbox.close()


def build_app(config: StockConfig) -> FastAPI:
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        async with aiohttp.ClientSession() as http:
            if WarmWhisperSTTService.shared is None:  # load once, warm, before the first call
                WarmWhisperSTTService.shared = await asyncio.to_thread(SharedWhisper, config)
                await asyncio.to_thread(WarmSmartTurn)
            state["http"] = http
            yield
            state.clear()

    app = FastAPI(title="stock pipecat reference", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz():
        ready = "http" in state
        return JSONResponse({"status": "ok" if ready else "starting"}, status_code=200 if ready else 503)

    @app.websocket("/ws/pcm")
    async def pcm(ws: WebSocket):
        raw = ws.query_params.get("rate", "8000")
        await ws.accept()
        if not raw.isdigit() or int(raw) not in ALLOWED_RATES:
            message = f"unsupported sample rate {raw!r}: use one of {', '.join(map(str, ALLOWED_RATES))}"
            with contextlib.suppress(Exception):
                await ws.send_text(json.dumps({"event": "error", "code": "bad_rate", "message": message}))
                await ws.close(4400, message[:120])
            return
        try:
            await run_call(ws, int(raw), config, state["http"])
        except Exception:
            log.exception("call failed")
            with contextlib.suppress(Exception):
                await ws.close(1011, "internal error")

    return app


def _piper_url(url: str) -> str:
    """Accept a bare server address too: Piper's HTTP server synthesizes at /synthesize."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"--piper-url must be an http(s) URL, got {url!r}")
    return url.rstrip("/") + ("/synthesize" if parsed.path in ("", "/") else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reference.stock_server",
                                description="Stock pipecat reference pipeline on voicebot's /ws/pcm protocol.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, required=True, help="HTTP/WebSocket port")
    p.add_argument("--llm-base-url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8011/v1")
    p.add_argument("--whisper-model", type=Path, required=True, help="local faster-whisper (CTranslate2) model dir")
    p.add_argument("--whisper-compute-type", default="default",
                   help="CTranslate2 compute type; 'default' is pipecat's default (float32 on CPU for a float16 "
                        "model); 'int8' is NOT stock, for a like-for-like run against an int8 voicebot")
    p.add_argument("--whisper-beam-size", type=int, default=5,
                   help="beam size (default 5, faster-whisper's; voicebot decodes greedily with 1)")
    p.add_argument("--whisper-decoding", choices=("stock", "voicebot"), default="stock",
                   help="'stock': faster-whisper's defaults (temperature fallback, timestamps); 'voicebot': "
                        "voicebot's options (one temperature, no timestamps, no Whisper VAD)")
    p.add_argument("--llm-max-tokens", type=int, help="longest answer in tokens (default: pipecat's, no limit)")
    p.add_argument("--llm-temperature", type=float, help="sampling temperature (default: the server's)")
    p.add_argument("--piper-voice", type=Path, help="Piper .onnx voice for the child Piper HTTP server")
    p.add_argument("--piper-url", help="use this Piper HTTP server instead of starting one "
                                       "(http://HOST:PORT or its /synthesize URL)")
    p.add_argument("--log-level", default="WARNING", help="pipecat/loguru log level (default WARNING)")
    return p.parse_args(argv)


def _fail(message: str) -> int:
    print(f"stock_server: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not (args.whisper_model / "model.bin").is_file():
        return _fail(f"no faster-whisper model in {args.whisper_model} (model.bin missing)")
    if not args.piper_url and not args.piper_voice:
        return _fail("give --piper-voice (a child Piper HTTP server is started) or --piper-url")
    piper: PiperHttpServer | None = None
    try:
        if args.piper_url:
            piper_url = _piper_url(args.piper_url)
        else:
            piper = PiperHttpServer(args.piper_voice).start()
            piper_url = piper.synthesize_url
        config = StockConfig(llm_base_url=args.llm_base_url.rstrip("/"), whisper_model=args.whisper_model,
                             piper_url=piper_url, whisper_compute_type=args.whisper_compute_type,
                             whisper_beam_size=args.whisper_beam_size, whisper_decoding=args.whisper_decoding,
                             llm_max_tokens=args.llm_max_tokens, llm_temperature=args.llm_temperature)
        uvicorn.run(build_app(config), host=args.host, port=args.port, log_level="warning")
    except (PiperServerError, ValueError) as e:
        return _fail(str(e))
    finally:
        if piper is not None:
            piper.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
