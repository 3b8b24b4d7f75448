"""Builds and runs a voicebot worker: shared services, HTTP app (health, metrics, media WebSockets), shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from pipecat.pipeline.worker import PipelineWorker
from pipecat.transports.base_transport import BaseTransport
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from voicebot import metrics
from voicebot.call import SHUTDOWN, CallSession
from voicebot.events import CallEvent
from voicebot.french.redaction import RedactingLogFilter, redact
from voicebot.calls.runtime import CallServices
from voicebot.config import Settings
from voicebot.drain import Drain
from voicebot.llm.client import OpenAIChatAnswerer
from voicebot.llm.server import EmbeddedLlamaServer
from voicebot.models import ModelError, resolve
from voicebot.french import phrases
from voicebot.pipeline.builder import Services, build_call, greeting_frame
from voicebot.french.speech import to_speech
from voicebot.stt.whisper import WhisperEngine
from voicebot.telephony.capacity import Capacity
from voicebot.telephony.websocket import websocket_router
from voicebot.pipeline.tts import PhraseCache
from voicebot.tts.engines import EspeakEngine, KokoroEngine, PiperServerEngine, TTSEngine
from voicebot.tts.scheduler import TTSScheduler

if TYPE_CHECKING:
    from voicebot.knowledge.service import KnowledgeService
    from voicebot.telephony.sip_transport import SipEndpoint

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The worker cannot start: one precise message."""


# What every LogRecord carries; anything else on a record came from ``extra=`` and is logged as a field.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message, and the ``extra=`` fields (call id...)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
               "msg": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in out and value is not None and value != "":
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RedactingLogFilter())  # every line, ours and the libraries', is redacted
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "openai", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from loguru import logger as loguru_logger  # pipecat logs with loguru

    loguru_logger.remove()
    def redacted_sink(message: object) -> None:
        sys.stderr.write(redact(str(message)))

    loguru_logger.add(redacted_sink, level="WARNING")


def choose_tts(settings: Settings) -> TTSEngine:
    """The TTS engine for these settings (see benchmarks/tts_voices.py for the offline choice)."""
    return TTSScheduler(_tts_engine(settings), slots=settings.tts.workers)


def _tts_engine(settings: Settings) -> TTSEngine:
    s = settings.tts
    if s.engine == "kokoro":
        return KokoroEngine(s.kokoro_voice, speed=s.speaking_rate)
    if s.engine == "espeak" or (s.engine == "auto" and s.voice == "embedded"):
        # No French Piper voice ships on PyPI; espeak-ng French had the best round-trip WER offline.
        return EspeakEngine(s.espeak_voice, int(165 * s.speaking_rate))
    model = resolve("tts", settings)
    english_voice = s.voice == "embedded"  # engine=piper with the offline English voice
    log_dir = settings.server.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return PiperServerEngine(model.local_path, workers=s.workers, length_scale=1.0 / s.speaking_rate,
                             french_phonemes=english_voice, log_dir=log_dir)


class PipelineCallControl:
    """What the monitor's actions reach: a live call, driven through its own pipeline.

    A supervisor's transfer is spoken ("je vous mets en relation…") and then carried out by the
    pipeline's CallActions, exactly like a transfer the caller asked for.
    """

    def __init__(self, session, worker):
        self.info = session.info
        self._worker = worker

    async def transfer(self, queue: str, target: str) -> bool:
        from voicebot.pipeline.frames import CallActionFrame, SpeakFrame

        await self._worker.queue_frames([SpeakFrame(text=phrases.TRANSFER, kind="phrase"),
                                         CallActionFrame(action="transfer", reason="supervisor", queue=queue)])
        return True

    async def hangup(self, reason: str) -> None:
        from voicebot.pipeline.frames import CallActionFrame

        await self._worker.queue_frames([CallActionFrame(action="hangup", reason=reason)])


class EventOutlet:
    """Publishes a call's events on the bus in order, without ever blocking the pipeline."""

    def __init__(self, bus):
        self._bus = bus
        self._queue: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    def put(self, event: CallEvent) -> None:
        self._queue.put_nowait(event)

    async def _run(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                await self._bus.publish(event)
            except Exception:
                log.exception("event bus publish failed", extra={"call_id": event.call_id})

    async def close(self) -> None:
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 5.0)


@dataclass
class Worker:
    """A running worker's shared state."""

    settings: Settings
    services: Services | None = None
    llm_server: EmbeddedLlamaServer | None = None
    admission: Capacity | None = None
    calls: dict[str, CallSession] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    call_services: CallServices = field(init=False)
    sip: SipEndpoint | None = None  # when sip.enabled
    knowledge: KnowledgeService | None = None
    drain: Drain = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.drain = Drain(self.active_calls, s.server.drain_timeout_s)
        self.drain.on_start(self._refuse_new_calls)
        s.server.data_dir.mkdir(parents=True, exist_ok=True)
        if s.calls.worker_id == "" and s.server.worker_id:
            s.calls.worker_id = s.server.worker_id
        self.call_services = CallServices.build(s.calls, s.server.data_dir)

    async def start(self) -> None:
        from voicebot.offline import enforce_offline

        enforce_offline()  # also when the app is built without the CLI (tests, embedding)
        s = self.settings
        await self.call_services.start()
        degraded = []
        try:
            stt = resolve("stt", s)
            whisper = await asyncio.to_thread(
                WhisperEngine, stt.local_path, device=s.stt.device, compute_type=s.stt.compute_type,
                language=s.stt.language, beam_size=s.stt.beam_size, cpu_threads=s.stt.cpu_threads,
                max_parallel=s.stt.max_parallel, batch_size=s.stt.batch_size, shed_backlog=s.stt.shed_backlog,
                encoder_window=s.stt.encoder_window, encoder_min_s=s.stt.encoder_min_s,
                encoder_full_below_s=s.stt.encoder_full_below_s)
            if stt.degraded:
                degraded.append(f"stt: {stt.source} — {stt.notes}")
            llm = resolve("llm", s)
            if llm.degraded:
                degraded.append(f"llm: {llm.source} — {llm.notes}")
            base_url, model = s.llm.base_url, s.llm.model
            if s.llm.backend == "embedded":
                self.llm_server = EmbeddedLlamaServer(
                    llm.local_path, port=s.llm.embedded_port, n_ctx=s.llm.embedded_ctx, n_threads=s.llm.embedded_threads,
                    log_file=s.server.data_dir / "logs" / "llama-server.log", prompt_cache=s.llm.prompt_cache,
                    cache_mb=s.llm.embedded_cache_mb)
                (s.server.data_dir / "logs").mkdir(parents=True, exist_ok=True)
                await self.llm_server.start_async()
                base_url, model = self.llm_server.base_url, self.llm_server.model_alias
            if s.llm.grounded or s.llm.backend == "extractive":
                answerer = await asyncio.to_thread(self._knowledge_answerer, base_url, model)
            else:
                answerer = OpenAIChatAnswerer(base_url, api_key=s.llm.api_key, model=model,
                                              temperature=s.llm.temperature, max_tokens=s.llm.max_tokens,
                                              first_token_timeout_s=s.llm.first_token_timeout_s,
                                              total_timeout_s=s.llm.total_timeout_s)
                degraded.append("llm: ungrounded answers (llm.grounded = false): figures are not checked")
            tts = choose_tts(s)
            await tts.start()
            if s.tts.voice == "embedded":
                degraded.append(f"tts: offline voice ({tts.name}); no French Piper voice ships on PyPI")
        except ModelError as e:
            raise StartupError(str(e)) from None
        except Exception as e:
            await self.stop()
            raise StartupError(f"{type(e).__name__}: {e}") from None
        cache = PhraseCache(tts) if s.tts.phrase_cache else None
        self.services = Services(settings=s, whisper=whisper, tts=tts, answerer=answerer, phrase_cache=cache,
                                 degraded=degraded)
        # Pre-synthesise the fixed phrases: the greeting and prompts then cost no TTS time in calls.
        for text in (s.pipeline.greeting, phrases.STILL_THERE, phrases.TRANSFER, phrases.LLM_APOLOGY,
                     phrases.NOT_UNDERSTOOD, phrases.GOODBYE_SILENCE):
            if text.strip() and cache is not None:
                with contextlib.suppress(Exception):
                    await cache.get(to_speech(text), s.pipeline.sample_rate)
        for line in degraded:
            log.warning("DEGRADED %s", line)
        if s.sip.enabled:
            from voicebot.telephony.sip_transport import SipEndpoint

            self.sip = SipEndpoint(s.sip, self.run_call)
            if self.admission is not None:  # one capacity for every entry of the worker
                self.sip.call_limiter = self.admission.for_sip(s.sip.max_calls)
            try:
                await self.sip.start()
            except (ValueError, OSError) as e:
                await self.stop()
                raise StartupError(f"SIP endpoint: {e}") from None
            log.info("SIP endpoint on udp/%s:%s", s.sip.host, self.sip.port)
        self.ready = True

    def question_embedder(self):
        """The knowledge base's sentence embedder (USE by default), to group unanswered questions."""
        from voicebot.knowledge.embedding import get_embedder

        kb = self.knowledge
        if kb is not None and getattr(kb, "embedder", None) is not None:
            return kb.embedder
        ks = self.settings.knowledge
        return get_embedder(ks.embedder if ks.embedder != "none" else "use", ks.embedder_threads)

    def record_refusal(self, channel: str) -> None:
        """A call refused at capacity counts in the service figures (written off the event loop)."""
        store = self.call_services.store if self.call_services else None
        if store is None:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().run_in_executor(None, store.add_refusal, time.time(), channel, "capacity")

    def active_calls(self) -> int:
        """Calls this worker still carries (running pipelines, SIP calls being set up, WebSocket admissions)."""
        sip_calls = len(getattr(self.sip, "calls", {}) or {})
        admitted = self.admission.active if self.admission is not None else 0
        return max(len(self.calls), sip_calls, admitted)

    def _refuse_new_calls(self) -> None:
        if self.sip is not None:
            self.sip.draining = True
        if self.admission is not None:
            self.admission.draining = True

    def _knowledge_answerer(self, base_url: str, model: str):
        """Answers come from the knowledge base: retrieval, grounded LLM + guard, extractive fallback."""
        from voicebot.knowledge.service import KnowledgeService
        from voicebot.knowledge.voice import KnowledgeAnswerer

        s = self.settings
        self.knowledge = KnowledgeService.from_settings(s)
        backend = self.knowledge.settings.backend  # 'auto' resolved: extractive embedded, LLM on vLLM
        if backend == "llm":
            self.knowledge.use_llm(base_url, model or None)
        log.info("knowledge base ready: %d chunks, answers by %s", self.knowledge.store.chunk_count(), backend)
        return KnowledgeAnswerer(self.knowledge, backend)

    async def stop(self) -> None:
        self.ready = False
        if self.sip is not None:
            with contextlib.suppress(Exception):
                await self.sip.stop()
            self.sip = None
        for session in list(self.calls.values()):
            with contextlib.suppress(Exception):
                await session.close(SHUTDOWN)
        if self.services is not None:
            await self.services.tts.stop()
        if self.llm_server is not None:
            await asyncio.to_thread(self.llm_server.stop)
            self.llm_server = None
        with contextlib.suppress(Exception):
            await self.call_services.stop()

    async def run_call(self, transport: BaseTransport, session: CallSession) -> None:
        """Run one call's pipeline to its end, whatever the media entry (WebSocket PCM, Twilio or SIP)."""
        from pipecat.workers.runner import WorkerRunner

        assert self.services is not None
        info = session.info
        self.calls[info.call_id] = session
        outlet = EventOutlet(self.call_services.bus)
        control = self.call_services.control

        def publish(event: CallEvent) -> None:
            outlet.put(event)
            session.send_event(event)
            if event.type == "error":
                metrics.ERRORS_TOTAL.labels(stage=event.data.get("stage", "unknown")).inc()

        def tap(pcm: bytes, rate: int) -> None:
            control.publish_audio(info.call_id, pcm, rate)

        worker, state = build_call(self.services, transport, session, publish=publish, audio_tap=tap)
        control.register(PipelineCallControl(session, worker))
        self._on_connection_events(transport, worker)
        watcher = asyncio.create_task(_cancel_when_ended(session, worker))
        # external_id: the peer's own name for the call (Twilio callSid), kept beside our id, never as it
        state.publish("call_started", channel=info.channel, caller=info.caller, worker=self.call_services.worker_id,
                      **({"external_id": info.extra["external_id"]} if info.extra.get("external_id") else {}))
        log.info("call started (%s)", info.channel, extra={"call_id": info.call_id})
        failed = False
        try:
            runner = WorkerRunner(handle_sigint=False, handle_sigterm=False, check_dangling_tasks=False)
            await runner.add_workers(worker)
            await runner.run()
        except Exception as e:  # the call ends; the worker and other calls go on
            failed = True
            log.exception("call failed: %s", e, extra={"call_id": info.call_id})
        finally:
            watcher.cancel()
            # The media side knows how the call ended; a call still up when its pipeline is over is the bot's doing.
            end_reason = session.end_reason or ("error" if failed else "bot_hangup")
            state.publish("call_ended", reason=end_reason)
            control.unregister(info.call_id)
            await outlet.close()
            self.calls.pop(info.call_id, None)
            await session.close(end_reason)
            log.info("call ended (%s)", end_reason, extra={"call_id": info.call_id})

    def _on_connection_events(self, transport: BaseTransport, worker: PipelineWorker) -> None:
        """Greet the caller once the media is up; stop the pipeline when the peer's connection drops."""

        @transport.event_handler("on_client_connected")
        async def _connected(_t, _client):
            assert self.services is not None
            greeting = greeting_frame(self.services)
            if greeting is not None:
                await worker.queue_frames([greeting])

        @transport.event_handler("on_client_disconnected")
        async def _disconnected(_t, _client):
            await worker.cancel()


async def _cancel_when_ended(session: CallSession, worker: PipelineWorker) -> None:
    """The media side ended the call (BYE, socket closed, hang-up): stop its pipeline."""
    await session.wait_ended()
    await worker.cancel()


def create_app(settings: Settings, worker: Worker | None = None) -> FastAPI:
    """The HTTP app; with no ``worker`` given, one is created and started/stopped by the app's lifespan."""
    manage = worker is None
    worker = worker or Worker(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage:
            await worker.start()
        try:
            yield
        finally:
            if manage:
                await worker.stop()

    docs = settings.server.api_docs  # off by default: FastAPI's pages load scripts from a public CDN
    app = FastAPI(title="voicebot", lifespan=lifespan, docs_url="/docs" if docs else None,
                  redoc_url="/redoc" if docs else None, openapi_url="/openapi.json" if docs else None)
    app.state.worker = worker
    if settings.monitor.enabled:
        from fastapi.responses import RedirectResponse

        from voicebot.monitor.context import MonitorContext
        from voicebot.monitor.web import mount

        cs = worker.call_services
        mount(app, MonitorContext(settings.monitor, cs.store, cs.bus, cs.control, settings.calls,
                                  knowledge=lambda: worker.knowledge, embedder_factory=worker.question_embedder))

        @app.get("/", include_in_schema=False)
        async def root():
            return RedirectResponse("/monitor")

    @app.get("/healthz")
    async def healthz():
        body = {"status": "ok" if worker.ready else "starting", "calls": len(worker.calls),
                "degraded": worker.services.degraded if worker.services else [],
                "uptime_s": round(time.time() - worker.started_at, 1)}
        return JSONResponse(body, status_code=200 if worker.ready else 503)

    @app.get("/readyz")
    async def readyz():
        """Readiness: 503 while starting and while draining (no new calls here), unlike /healthz."""
        state = "draining" if worker.drain.draining else ("ready" if worker.ready else "starting")
        return JSONResponse({"status": state, "calls": worker.active_calls()},
                            status_code=200 if state == "ready" else 503)

    @app.get("/metrics")
    async def prometheus_metrics():
        return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def run_call(transport, session):
        await worker.run_call(transport, session)

    srv = settings.server
    worker.admission = Capacity(min(srv.capacity_calls_per_worker, srv.max_concurrent_calls),
                                srv.capacity_retry_after_s, on_refused=worker.record_refusal)
    app.include_router(websocket_router(allowed_rates=settings.websocket.allowed_rates,
                                        max_frame_bytes=settings.websocket.max_frame_bytes,
                                        admission=worker.admission, run_call=run_call,
                                        start_timeout_s=settings.websocket.start_timeout_s,
                                        max_pending_per_source=settings.websocket.max_pending_per_source))
    return app


class DrainingServer(uvicorn.Server):
    """uvicorn's server, except that the first SIGTERM drains the worker (voicebot.drain) instead of exiting."""

    def __init__(self, config: uvicorn.Config, worker: Worker) -> None:
        super().__init__(config)
        self.worker = worker

    def handle_exit(self, sig: int, frame) -> None:
        if sig != signal.SIGTERM or self.worker.drain.draining or self.should_exit:
            super().handle_exit(sig, frame)  # SIGINT, or a second SIGTERM: exit now
            return
        # A signal handler must not touch the loop's state directly: schedule the drain on it.
        asyncio.get_event_loop().call_soon_threadsafe(self.worker.drain.begin, self._drained)

    def _drained(self) -> None:
        self.should_exit = True


def serve(settings: Settings) -> int:
    setup_logging(settings.server.log_level)
    if not settings.server.worker_id:
        settings.server.worker_id = f"{settings.server.http_host}:{settings.server.http_port}"
    worker = Worker(settings)
    app = create_app(settings, worker)
    config = uvicorn.Config(app, host=settings.server.http_host, port=settings.server.http_port,
                            ws_max_size=4 * settings.websocket.max_frame_bytes, log_config=None,
                            log_level=settings.server.log_level.lower(), lifespan="on",
                            # X-Forwarded-* only from configured proxies (uvicorn trusts 127.0.0.1 by default)
                            proxy_headers=bool(settings.server.trusted_proxies),
                            forwarded_allow_ips=list(settings.server.trusted_proxies) or None)
    server = DrainingServer(config, worker)

    async def main() -> int:
        try:
            await worker.start()
        except StartupError as e:
            print(f"voicebot: error: {e}", file=sys.stderr)
            await worker.stop()
            return 2
        try:
            await server.serve()
        finally:
            await worker.stop()
        return 0 if server.started else 2

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0
