"""Test support for the calls/monitor tests: real redis-server and PostgreSQL started in temp dirs,
an in-process monitor app served by uvicorn on a free port, and a scripted call that publishes the
CallEvents a real pipeline publishes (the full `voicebot serve` + real call variant is the lead's)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from voicebot.calls.bus import EventBus
from voicebot.events import CallEvent
from voicebot.calls.runtime import CallServices
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore
from voicebot.knowledge.embedding import get_embedder
from voicebot.calls.passwords import hash_password
from voicebot.monitor.context import MonitorContext
from voicebot.monitor.settings import MonitorSettings
from voicebot.monitor.web import mount
from voicebot.call import CallInfo
from voicebot.process import free_port

PASSWORDS = {"sup": "sup-password-1", "agent": "agent-password-1", "admin": "admin-password-1",
             "doc": "doc-password-1"}
ROLES = {"sup": "supervisor", "agent": "agent", "admin": "admin", "doc": "documentation"}



def _wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def redis_server():
    """A throwaway redis-server on a free port; yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is missing: apt-get install redis-server")
    port, tmp = free_port(), tempfile.mkdtemp(prefix="vb-redis-")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _pg_bin(name: str) -> str:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing: apt-get install postgresql")
    return found


@contextlib.contextmanager
def postgres_server(data_dir: Path | None = None):
    """initdb + pg_ctl into a temp dir (as user postgres when run as root); yields a SQLAlchemy URL.

    With `data_dir` the cluster lives there and is kept (initdb only the first time): a benchmark builds
    its big database once and starts on it again later.
    """
    tmp = tempfile.mkdtemp(prefix="vb-pg-")
    data = str(data_dir) if data_dir is not None else os.path.join(tmp, "data")
    port = free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        if data_dir is not None:
            Path(data).mkdir(parents=True, exist_ok=True)
            shutil.chown(data, "postgres", "postgres")
            os.chmod(data, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]

    def run(*a: str) -> None:
        subprocess.run([*prefix, *a], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        run(_pg_bin("initdb"), "-D", data, "-U", "voicebot", "--auth=trust", "-E", "UTF8", "--no-sync")
    run(_pg_bin("pg_ctl"), "-D", data, "-w", "-t", "60", "-l", os.path.join(tmp, "log"), "-o",
        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://voicebot@127.0.0.1:{port}/postgres"
    finally:
        stop = "fast" if data_dir is not None else "immediate"  # a kept cluster shuts down cleanly
        subprocess.run([*prefix, _pg_bin("pg_ctl"), "-D", data, "-w", "-m", stop, "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def add_users(store: CallStore) -> None:
    for name, role in ROLES.items():
        store.upsert_user(name, role, hash_password(PASSWORDS[name]))


@dataclass
class MonitorApp:
    services: CallServices
    ctx: MonitorContext
    base_url: str
    server: uvicorn.Server
    task: asyncio.Task

    @property
    def bus(self) -> EventBus:
        return self.services.bus

    async def login(self, name: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url, timeout=10)
        r = await client.post("/login", data={"username": name, "password": PASSWORDS[name]})
        assert r.status_code == 303, r.text
        return client


@contextlib.asynccontextmanager
async def monitor_app(data_dir: Path, *, calls_settings: CallsSettings | None = None,
                      monitor_settings: MonitorSettings | None = None, store: CallStore | None = None):
    """The monitor mounted on a FastAPI app with its calls services, served by uvicorn on a free port."""
    cs = calls_settings or CallsSettings(worker_id="worker-test")
    services = CallServices.build(cs, data_dir, store=store)
    app = FastAPI()
    ctx = MonitorContext(monitor_settings or MonitorSettings(login_delay_s=0.0), services.store, services.bus,
                         services.control, cs, embedder_factory=lambda: get_embedder("use"))
    mount(app, ctx)
    await services.start()
    await asyncio.to_thread(add_users, services.store)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield MonitorApp(services, ctx, f"http://127.0.0.1:{port}", server, task)
    finally:
        server.should_exit = True
        await task
        await services.stop()


@dataclass
class ScriptedSession:
    """CallSession of a scripted call: records the supervisor's actions (the real one is telephony's)."""

    info: CallInfo
    transfers: list[tuple[str, str]] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)
    transferred: asyncio.Event = field(default_factory=asyncio.Event)

    async def hangup(self, reason: str) -> None:
        self.hangups.append(reason)

    async def transfer(self, queue: str, target: str) -> bool:
        self.transfers.append((queue, target))
        self.transferred.set()
        return True


@dataclass
class ScriptedCall:
    """Publishes what the pipeline publishes for one call, turn by turn."""

    bus: EventBus
    call_id: str
    caller: str = "+33612345678"
    worker: str = "worker-test"
    channel: str = "ws-pcm"
    pause: float = 0.0
    turn: int = 0

    async def pub(self, type_: str, **data) -> CallEvent:
        ev = CallEvent(self.call_id, type_, data)  # type: ignore[arg-type]
        await self.bus.publish(ev)
        if self.pause:
            await asyncio.sleep(self.pause)
        return ev

    async def start(self) -> None:
        await self.pub("call_started", channel=self.channel, caller=self.caller, worker=self.worker)
        await self.pub("state", state="greeting")
        await self.pub("bot_text", text="Bonjour, vous êtes en ligne avec l'assistant de la Région Île-de-France.",
                       turn=-1)

    async def say(self, caller_text: str, bot_text: str, sources: list | None = None, guard: str = "ok",
                  latency_ms: dict | None = None) -> CallEvent:
        t = self.turn
        await self.pub("state", state="listening")
        words = caller_text.split()
        await self.pub("transcript_partial", text=" ".join(words[: max(1, len(words) // 2)]))
        await self.pub("transcript_final", text=caller_text, turn=t)
        await self.pub("state", state="thinking")
        await self.pub("state", state="speaking")
        for sentence in bot_text.split(". "):
            await self.pub("bot_text", text=sentence, turn=t)
        ev = await self.pub("turn", turn=t, caller_text=caller_text, bot_text=bot_text,
                            latency_ms=latency_ms or {"stt": 180.0, "retrieve": 35.0, "llm_first_token": 410.0,
                                                      "tts_first_audio": 150.0, "total": 820.0},
                            sources=sources or [], guard=guard, interrupted=False)
        self.turn += 1
        return ev

    async def end(self, reason: str = "caller_hangup") -> None:
        await self.pub("state", state="ended")
        await self.pub("call_ended", reason=reason)


async def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll an (a)sync predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
