"""Attacks on a real `voicebot serve` (Whisper, Silero, Smart Turn, espeak-ng, SQLite store, Redis bus,
webhook) run under `strace -f` so the last test can prove no traffic left the machine.

Peers are real: redis-server, an HTTP webhook receiver, an LLM endpoint that accepts connections and never
answers (the hung LLM), WebSocket callers sending real audio (a French phrase with personal data spoken by
espeak-ng, and a shared clip). Findings of issue 14 covered here: 3 (call ids), 4 (personal data in every
sink), 5 (idle sockets), 6 (egress), 7 (DTMF flood vs another call's record), 9 (HTTP surface).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import websockets

from calls_support import redis_server
from core_support import ServerProcess, clip, free_port, run_cli
from voicebot.calls.store import CallStore
from voicebot.telephony.caller import Caller, read_wav

PHONE_DIGITS = "0612345678"
CALLER_ID = "+33612345678"
PII_PHRASE = "Mon numéro de téléphone est le zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit."
SPOKEN_NEEDLES = ("trente-quatre", "trente quatre", "cinquante-six", "soixante-dix-huit", "12 34 56")
SUPERVISOR = ("chef", "mot-de-passe-du-chef")
TRACED = "connect,sendto,sendmsg,sendmmsg"


class Webhook:
    """A real HTTP receiver for handoff cards (the CRM side)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/crm"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class HungLLM:
    """An OpenAI-compatible address that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        for c in [*self.conns, self.sock]:
            c.close()


@dataclass
class World:
    server: ServerProcess
    redis_url: str
    webhook: Webhook
    trace: Path
    data: Path
    bus_messages: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    @property
    def http(self) -> str:
        return self.server.url

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"

    def store(self) -> CallStore:
        return CallStore(f"sqlite:///{self.data}/calls.sqlite3")

    def stop(self) -> None:
        """SIGTERM voicebot itself (SIGTERM to strace would detach it and leave it running)."""
        proc = self.server.proc
        if proc is None or proc.poll() is not None:
            return
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _pii_clip(folder: Path) -> Path:
    path = folder / "pii.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "140", "-w", str(path), PII_PHRASE], check=True,
                   capture_output=True, timeout=30)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    strace = shutil.which("strace")
    assert strace, "strace is missing: apt-get install strace (deploy/setup.sh installs it)"
    data = tmp_path_factory.mktemp("attack-data")
    webhook, llm = Webhook(), HungLLM()
    with redis_server() as redis_url:
        res = run_cli("users", "add", SUPERVISOR[0], "--role", "supervisor", "--data-dir", str(data),
                      input=SUPERVISOR[1] + "\n")
        assert res.returncode == 0, res.stderr
        port = free_port()
        trace = data / "strace.txt"
        env = {"VOICEBOT_CALLS__BUS": "redis", "VOICEBOT_CALLS__REDIS_URL": redis_url,
               "VOICEBOT_CALLS__WEBHOOK_URL": webhook.url, "VOICEBOT_LLM__BACKEND": "openai",
               "VOICEBOT_LLM__BASE_URL": llm.url, "VOICEBOT_LLM__FIRST_TOKEN_TIMEOUT_S": "3",
               "VOICEBOT_PIPELINE__GREETING": "Bonjour, je vous écoute.",
               # no sample ingestion (minutes on a busy 2-core machine): the bot answers "no information,
               # shall I pass you to an adviser?"; the hung LLM is then never asked (see the Responder unit test)
               "VOICEBOT_KNOWLEDGE__AUTO_INGEST_SAMPLES": "false", "VOICEBOT_PIPELINE__SILENCE_TIMEOUT_S": "600",
               "VOICEBOT_WEBSOCKET__START_TIMEOUT_S": "2", "VOICEBOT_WEBSOCKET__MAX_PENDING_PER_SOURCE": "3",
               "VOICEBOT_MONITOR__LOGIN_DELAY_S": "0"}
        cmd = [strace, "-f", "--seccomp-bpf", "-e", f"trace={TRACED}", "-o", str(trace),
               sys.executable, "-m", "voicebot", "serve", "--http-port", str(port), "--data-dir", str(data)]
        server = ServerProcess(data, env=env, port=port, command=cmd).start(timeout=300)
        w = World(server, redis_url, webhook, trace, data)
        listener = threading.Thread(target=_listen_bus, args=(redis_url, w.bus_messages), daemon=True)
        listener.start()
        try:
            yield w
        finally:
            w.stop()
            webhook.close()
            llm.close()


def _listen_bus(url: str, out: list[str]) -> None:
    """Everything published on the Redis bus, as the other workers would read it."""
    import redis

    pubsub = redis.Redis.from_url(url).pubsub()
    pubsub.psubscribe("voicebot:*")
    try:
        for msg in pubsub.listen():
            if msg.get("type") == "pmessage":
                out.append(msg["data"].decode("utf-8", "replace"))
    except redis.ConnectionError:
        pass  # redis-server stopped at the end of the module


def _leaks(text: str) -> list[str]:
    """Personal data of the PII call found in a text (digits in any spacing, or the spoken words)."""
    found = [n for n in SPOKEN_NEEDLES if n in text.lower()]
    digits_only = re.sub(r"(?<=\d)[ .\-\u00a0]+(?=\d)", "", text)
    found += [d for d in (PHONE_DIGITS, PHONE_DIGITS[1:], "33612345678") if d in digits_only]
    return found


async def _send(ws, data) -> bool:
    """Send unless the server has ended the call (it hangs up after a transfer)."""
    try:
        await ws.send(data)
        return True
    except websockets.ConnectionClosed:
        return False


async def _silence(ws, seconds: float) -> None:
    for _ in range(int(seconds / 0.02)):
        if not await _send(ws, bytes(320)):
            return
        await asyncio.sleep(0.02)


async def _pcm_call(url: str, samples: np.ndarray, *, caller: str = "", then=None) -> list[dict]:
    """One caller turn in real time over /ws/pcm; ``then(ws, events)`` runs after the turn's record."""
    events: list[dict] = []
    async with websockets.connect(f"{url}/ws/pcm?rate=8000&caller={quote(caller)}", max_size=None) as ws:
        async def receive() -> None:
            async for m in ws:
                if isinstance(m, str):
                    events.append(json.loads(m))

        reader = asyncio.create_task(receive())
        await _silence(ws, 3.0)  # the short greeting plays
        for i in range(0, len(samples), 160):
            chunk = samples[i:i + 160]
            await ws.send(np.pad(chunk, (0, 160 - len(chunk))).astype(np.int16).tobytes())
            await asyncio.sleep(0.02)
        for _ in range(9000):  # up to 180 s of silence until the turn's record arrives (busy CI machines)
            if any(e["event"] == "turn" for e in events):
                break
            await _send(ws, bytes(320))
            await asyncio.sleep(0.02)
        if then is not None:
            await then(ws, events)
        await _send(ws, json.dumps({"event": "hangup"}))
        try:
            await asyncio.wait_for(reader, 10)  # the server closes the call
        except (websockets.ConnectionClosed, asyncio.TimeoutError):
            pass
    return events


async def _wait(predicate, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_personal_data_spoken_and_typed_never_leaves_redacted_sinks(world, tmp_path):
    """Finding 4 end to end: a phone number spoken as words, a caller id, keypad digits; then a transfer.
    The store, the log, the Redis bus, the webhook and the handoff card hold none of it in clear."""
    samples = read_wav(_pii_clip(tmp_path), 8000)

    async def type_digits_then_ask_for_an_agent(ws, events) -> None:
        for digit in "49701234":  # a PIN / card digits on the keypad
            await _send(ws, json.dumps({"event": "dtmf", "digit": digit}))
            await _silence(ws, 0.1)
        await _send(ws, json.dumps({"event": "dtmf", "digit": "0"}))  # 0: an agent, please
        for _ in range(6000):  # the bot announces the transfer, then hangs up
            if any(e["event"] == "transfer" for e in events) or not await _send(ws, bytes(320)):
                break
            await asyncio.sleep(0.02)

    events = await _pcm_call(world.ws, samples, caller=CALLER_ID, then=type_digits_then_ask_for_an_agent)
    turns_seen = [e for e in events if e["event"] == "turn"]
    assert turns_seen, f"no turn record within the wait: {events[-5:]}"
    call_id, turn = next(e["call_id"] for e in events if e["event"] == "connected"), turns_seen[0]
    assert any(e["event"] == "transfer" for e in events), events[-5:]
    card_body = await _wait(lambda: world.webhook.bodies and world.webhook.bodies[-1], 30)
    store = world.store()
    call = await _wait(lambda: (c := store.get_call(call_id)) and c["ended_at"] and c, 20)
    turns = store.turns(call_id, include_raw=True)
    # What Whisper base made of espeak-ng's voice is mostly not the number (see the report): whatever it
    # heard went through the one redaction step; the spoken forms are covered by test_calls_redaction.py.
    assert turns and turns[0]["caller_text"].strip()
    assert turns[0]["caller_text_raw"] is None and call["caller"] == "06 •••••• 78"
    assert "caller_raw" not in call
    dtmf_rows = await _wait(lambda: store.events(call_id, ["dtmf"]), 20)
    # 9 keys, two of them "0" (one inside the typed digits, then the request for an agent), all masked
    assert [r["data"] for r in dtmf_rows] == [{"count": 9, "agent_requests": 2, "digits": "•" * 9}]
    handoff = store.recent_handoffs(5, call_id=call_id)[0]
    store.close()
    await asyncio.sleep(1.0)  # the last log lines and bus messages
    sinks = {
        "client turn event": json.dumps(turn, ensure_ascii=False),
        "store (database and WAL files)": "".join(p.read_bytes().decode("utf-8", "replace")
                                                  for p in world.data.glob("calls.sqlite3*")),
        "log": world.server.log(),
        "redis bus": "\n".join(world.bus_messages),
        "webhook": card_body,
        "handoff card": json.dumps(handoff["card"], ensure_ascii=False),
    }
    assert len(world.bus_messages) > 5
    for name, text in sinks.items():
        assert not _leaks(text), f"{name} leaks {_leaks(text)}"
    assert not re.search(r'"digit": "[1-9*#]"', sinks["redis bus"])  # keypad digits cross masked
    assert "caller_chars" in sinks["log"]  # turn log lines carry sizes, not text
    assert "?rate=8000&caller" not in sinks["log"]  # the access log lost its query string
    world.figures["pii_call_dtmf_messages"] = 9


async def test_a_dtmf_flood_on_one_call_never_costs_another_call_its_record(world):
    """Finding 7: 10 000 keypad messages on call A while call B starts and talks: B's record is whole."""
    flood_sent = 0
    async with websockets.connect(f"{world.ws}/ws/pcm?rate=8000", max_size=None) as flooder:
        connected = json.loads(await flooder.recv())
        flooder_id = connected["call_id"]
        b = asyncio.create_task(Caller(f"{world.ws}/ws/pcm", [clip("029.wav")], answer_timeout_s=180,
                                       greeting_timeout_s=60).run())
        await asyncio.sleep(2.0)  # B is connecting / hearing its greeting when the flood starts
        for i in range(10_000):
            if not await _send(flooder, json.dumps({"event": "dtmf", "digit": "123456789*#"[i % 11]})):
                break
            flood_sent += 1
            if i % 200 == 0:
                await _send(flooder, bytes(320))
                await asyncio.sleep(0)  # let caller B's own traffic through this process too
        result = await b
        await _send(flooder, json.dumps({"event": "hangup"}))
    assert result.connected and result.answered
    store = world.store()
    victim = await _wait(lambda: (c := store.get_call(result.call_id)) and c["ended_at"] and c, 20)
    assert victim["turns"] == 1 and victim["end_reason"] == "caller_hangup"
    assert [e["type"] for e in store.events(result.call_id, ["call_started"])] == ["call_started"]
    flood = await _wait(lambda: (c := store.get_call(flooder_id)) and c["ended_at"] and c, 20)
    keys = store.events(flooder_id, ["dtmf"])[0]["data"]["count"]
    store.close()
    assert flood["end_reason"] == "caller_hangup"
    assert keys < 200 < flood_sent  # the keypad rate limit: the flood never reached the bus
    world.figures["dtmf_flood_messages"] = flood_sent


async def _twilio(ws_url: str, start: dict | None, media_frames: int = 0) -> tuple[list[dict], int | None]:
    """A Twilio Media Streams client: connected, start, some μ-law silence, stop."""
    events = []
    async with websockets.connect(f"{ws_url}/ws/twilio", max_size=None) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        if start is not None:
            await ws.send(json.dumps({"event": "start", "start": start, "streamSid": start.get("streamSid")}))
        payload = base64.b64encode(b"\xff" * 160).decode()
        for i in range(media_frames):
            await ws.send(json.dumps({"event": "media", "streamSid": start["streamSid"],
                                      "media": {"track": "inbound", "chunk": str(i), "payload": payload}}))
            await asyncio.sleep(0.02)
        if start is not None and media_frames:
            await ws.send(json.dumps({"event": "stop", "streamSid": start["streamSid"]}))
            await asyncio.sleep(0.5)
            return events, None  # the caller leaves: the server ends the call
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 10)
                if isinstance(m, str):
                    events.append(json.loads(m))
        except websockets.ConnectionClosed as e:
            return events, e.rcvd.code if e.rcvd else None
        except asyncio.TimeoutError:
            return events, None


async def test_twilio_call_sid_is_only_an_external_reference(world):
    """Finding 3: a reused callSid cannot reach another call's record; a callSid with '/' is refused."""
    async with websockets.connect(f"{world.ws}/ws/pcm?rate=8000", max_size=None) as live:
        live_id = json.loads(await live.recv())["call_id"]
        events, code = await _twilio(world.ws, {"streamSid": "MZ1", "callSid": live_id,
                                                "customParameters": {"caller": "+33 6 12<script>34 56 78"}},
                                     media_frames=50)
        await live.send(json.dumps({"event": "hangup"}))
    bad_events, bad_code = await _twilio(world.ws, {"streamSid": "MZ2", "callSid": "CA/../../api/calls"})
    assert bad_code == 4400 and bad_events[0]["code"] == "bad_start"
    store = world.store()
    live_call = await _wait(lambda: (c := store.get_call(live_id)) and c["ended_at"] and c, 20)
    assert live_call["channel"] == "ws-pcm"  # untouched by the Twilio call that named it
    twilio_calls = await _wait(lambda: [c for c in store.history(limit=50) if c["channel"] == "ws-twilio"], 20)
    started = [store.events(c["id"], ["call_started"])[0]["data"] for c in twilio_calls]
    store.close()
    assert len(twilio_calls) == 1 and twilio_calls[0]["id"] != live_id
    assert started[0]["external_id"] == live_id and "<" not in json.dumps(started)
    assert twilio_calls[0]["caller"] == "06 •••••• 78"


async def test_idle_twilio_sockets_hold_no_call_slot(world):
    """Finding 5: sockets that never send 'start' are capped per source and closed after 2 s; a real
    caller gets through meanwhile."""
    idle = [await websockets.connect(f"{world.ws}/ws/twilio") for _ in range(8)]
    refused, closed = 0, 0
    async with websockets.connect(f"{world.ws}/ws/pcm?rate=8000") as caller:
        assert json.loads(await asyncio.wait_for(caller.recv(), 10))["event"] == "connected"
        for ws in idle:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as e:
                refused += e.rcvd is not None and e.rcvd.code == 4429
                closed += e.rcvd is not None and e.rcvd.code == 4400
        await caller.send(json.dumps({"event": "hangup"}))
    assert refused == 5 and closed == 3  # 3 pending allowed per source, each closed at the deadline
    world.figures["idle_sockets"] = len(idle)


def _login(client: httpx.Client, forwarded_for: str | None = None, password: str = "faux") -> httpx.Response:
    headers = {"accept": "application/json"} | ({"x-forwarded-for": forwarded_for} if forwarded_for else {})
    return client.post("/login", json={"username": SUPERVISOR[0], "password": password}, headers=headers)


def test_http_surface(world):
    """Finding 9: no CDN docs, huge offsets are 400, X-Forwarded-For cannot dodge the login limiter."""
    with httpx.Client(base_url=world.http, timeout=10) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404
        assert _login(client, password=SUPERVISOR[1]).status_code == 200
        for query in ("/api/history?offset=" + "9" * 30, "/api/history?offset=-1"):
            r = client.get(query)
            assert r.status_code == 400 and "offset" in r.json()["detail"]
        assert client.get("/monitor/history?page_no=" + "9" * 25).status_code == 400
    with httpx.Client(base_url=world.http, timeout=10) as attacker:
        codes = [_login(attacker, forwarded_for=f"203.0.113.{i}").status_code for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429], codes


def test_no_traffic_left_the_machine_from_start_up_through_the_calls(world):
    """Finding 6: everything above ran under strace -f; no connect/sendto/sendmsg went to a non-loopback
    address, none to port 53 (DNS) and none to systemd-resolved."""
    world.stop()
    trace = world.trace.read_text(errors="replace")
    calls = [ln for ln in trace.splitlines() if re.search(r"\b(connect|sendto|sendmsg|sendmmsg)\(", ln)]
    assert len(calls) > 100  # the calls above did talk (loopback): the trace is real
    offenders = []
    for line in calls:
        if "htons(53)" in line or "/run/systemd/resolve" in line:  # DNS, directly or through resolved
            offenders.append(line)
            continue
        for addr in re.findall(r'inet_addr\("([^"]+)"\)', line) + re.findall(r'inet_pton\(AF_INET6, "([^"]+)"', line):
            if not (addr.startswith("127.") or addr in ("::1", "0.0.0.0", "::") or addr.startswith("::ffff:127.")):
                offenders.append(line)
    assert offenders == [], "\n".join(offenders[:20])
