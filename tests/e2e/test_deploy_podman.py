"""The deployment end to end on this machine: the images built by deploy/images/build.sh, played by
`podman kube play` from a rendering of the Kubernetes manifests (deploy/podman/render.py): kamailio in
front of two voicebot workers, Redis, PostgreSQL. Real SIP calls (baresip) through kamailio get spoken
answers from both workers; one worker is drained with SIGTERM during a call: that call ends normally,
new calls go to the other worker, no call record is lost; a supervisor logged in on one worker sees and
hears a call carried by the other. Figures go to test-artifacts/deploy-e2e.json."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import websockets

from telephony_peers import (baresip_home, baresip_recordings, free_port_range, free_udp_port, read_wav, rms,
                             run_baresip, speech_clip_8k)

ROOT = Path(__file__).resolve().parents[2]
PREFIX = f"vbe2e{os.getpid()}-"
PASSWORD = "chef-mot-de-passe-1"


def podman_env() -> dict[str, str]:
    return dict(os.environ, CONTAINERS_CONF=str(ROOT / "deploy" / "images" / "containers.conf"))


def podman(*args: str, timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=podman_env(),
                          input=input)


def free_block(n: int) -> int:
    """A TCP/UDP port with the next n-1 ports free too."""
    import socket

    for _ in range(200):
        base = free_udp_port()
        socks = []
        try:
            for p in range(base, base + n):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


class Deployment:
    """The rendered manifests, played and torn down."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ports = {"kamailio": free_block(1), "redis": free_block(1), "postgres": free_block(1),
                      "http": free_block(2), "sip": free_block(2), "rtp": free_port_range(400)[0]}
        self.kube = tmp / "kube.yaml"
        self.secrets = tmp / "voicebot.env"

    def render(self) -> None:
        args = [sys.executable, str(ROOT / "deploy" / "podman" / "render.py"), "--workers", "2",
                "--prefix", PREFIX, "--out", str(self.kube), "--secrets", str(self.secrets)]
        for name, port in self.ports.items():
            args += [f"--{name}-port", str(port)]
        res = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr

    def secret(self, key: str) -> str:
        return dict(line.split("=", 1) for line in self.secrets.read_text().splitlines())[key]

    def http(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports['http'] + i - 1}"

    @staticmethod
    def container(worker: str) -> str:
        return f"{PREFIX}{worker}-pod-0-voicebot"

    def db(self) -> psycopg.Connection:
        return psycopg.connect(host="127.0.0.1", port=self.ports["postgres"], user="voicebot", dbname="voicebot",
                               password=self.secret("postgres-password"), autocommit=True)

    def down(self) -> None:
        podman("kube", "down", str(self.kube), timeout=120)
        vols = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
        mine = [v for v in vols if v.startswith(PREFIX)]
        if mine:
            podman("volume", "rm", "-f", *mine)


async def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = await asyncio.to_thread(check)
        except Exception:
            got = None
        if got:
            return got
        await asyncio.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def call(tmp: Path, name: str, kamailio: int, clip: Path, seconds: int) -> tuple[str, Path | None]:
    home = baresip_home(tmp, clip, free_udp_port(), free_port_range(20), name=name)
    out = await run_baresip(home, [(0.3, f"/dial sip:bot@127.0.0.1:{kamailio}")], quit_after_s=seconds,
                            timeout=seconds + 30)
    return out, baresip_recordings(home)[1]


def answered_after(received: Path | None, question_s: float) -> float:
    """RMS of what the caller heard after its question ended (the bot's spoken answer)."""
    assert received is not None
    heard, rate = read_wav(received)
    return rms(heard[int((question_s + 0.5) * rate):])


def calls_in_store(dep: Deployment) -> list[dict]:
    with dep.db() as conn:
        rows = conn.execute("SELECT id, worker_id, ended_at, end_reason, abnormal, turns FROM calls "
                            "ORDER BY started_at").fetchall()
    return [dict(zip(("id", "worker", "ended_at", "end_reason", "abnormal", "turns"), r, strict=True)) for r in rows]


def worker_logs(dep: Deployment, worker: str) -> str:
    got = podman("logs", dep.container(worker))
    return got.stdout + got.stderr


def bot_turns(dep: Deployment, call_id: str) -> int:
    with dep.db() as conn:
        return conn.execute("SELECT count(*) FROM turns WHERE call_id = %s AND bot_text <> ''",
                            (call_id,)).fetchone()[0]


@pytest.mark.deploy
@pytest.mark.timeout(3600)
async def test_two_workers_behind_kamailio_drain_and_cross_worker_listen_in(tmp_path):
    assert shutil.which("podman") and shutil.which("baresip"), "run deploy/setup.sh"
    figures: dict[str, object] = {}
    t = time.monotonic()
    build = subprocess.run(["bash", str(ROOT / "deploy" / "images" / "build.sh")], capture_output=True, text=True,
                           timeout=3000, env=dict(podman_env(), PYTHON=sys.executable))
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    figures["build_s"] = round(time.monotonic() - t, 1)
    dep = Deployment(tmp_path)
    dep.render()
    try:
        t0 = time.monotonic()
        played = podman("kube", "play", str(dep.kube), timeout=600)
        assert played.returncode == 0, played.stderr[-3000:]
        for i in (1, 2):
            await wait_until(lambda i=i: httpx.get(f"{dep.http(i)}/readyz", timeout=3).status_code == 200, 900,
                             f"worker {i} ready")
        figures["play_to_ready_s"] = round(time.monotonic() - t0, 1)
        added = podman("exec", "-i", dep.container("voicebot-1"), "voicebot", "users", "add", "chef", "--role",
                       "supervisor", "--config", "/etc/voicebot/voicebot.toml", input=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr[-2000:]

        # 1. Two calls through kamailio: round robin gives one to each worker; both answer in speech.
        # Long enough for a cold worker on a loaded 2-core machine to transcribe and answer (first call).
        question = speech_clip_8k(tmp_path, "029.wav", pad_s=40.0)
        question_s = len(read_wav(question)[0]) / 8000 - 40.0
        heard = []
        for n in range(2):
            out, received = await call(tmp_path, f"c{n}", dep.ports["kamailio"], question, int(question_s) + 40)
            heard.append(answered_after(received, question_s))
            if n == 0:
                figures["play_to_first_answered_call_s"] = round(time.monotonic() - t0, 1)
        rows = await wait_until(lambda: (r := calls_in_store(dep)) and len(r) == 2
                                and all(c["ended_at"] for c in r) and r, 60, "both calls recorded as ended")
        assert {r["worker"] for r in rows} == {"voicebot-1", "voicebot-2"}, rows  # one call on each worker
        assert all(h > 300 for h in heard), heard  # the caller heard the bot (greeting, then the answer)

        # 2. A long call; a supervisor logged in on the OTHER worker sees it and hears it.
        long_task = asyncio.create_task(call(tmp_path, "long", dep.ports["kamailio"], question,
                                             int(question_s) + 40))
        live = await wait_until(lambda: [r for r in calls_in_store(dep) if r["ended_at"] is None], 60,
                                "the long call to start")
        holder = live[0]["worker"]
        other = 2 if holder == "voicebot-1" else 1
        async with httpx.AsyncClient(base_url=dep.http(other), timeout=10) as sup:
            r = await sup.post("/login", data={"username": "chef", "password": PASSWORD})
            assert r.status_code in (200, 303), r.text
            listed = (await sup.get("/api/calls", headers={"Accept": "application/json"})).json()
            assert [c["id"] for c in listed] == [live[0]["id"]] and listed[0]["worker"] == holder
            cookie = f"vb_session={sup.cookies.get('vb_session')}"
        url = f"ws://127.0.0.1:{dep.ports['http'] + other - 1}/monitor/ws/listen/{live[0]['id']}"
        got = 0
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and got < 8000:
                msg = await asyncio.wait_for(ws.recv(), 20)
                if isinstance(msg, bytes):
                    got += len(msg)
        assert got >= 8000, got  # at least a quarter second of the call's audio, relayed through Redis
        figures["listen_in_bytes_across_workers"] = got

        # 3. Drain the worker holding the long call; new calls go to the other; the long call ends normally.
        killed = podman("kill", "--signal", "TERM", dep.container(holder))
        assert killed.returncode == 0, killed.stderr
        i_holder = int(holder[-1])
        await wait_until(lambda: httpx.get(f"{dep.http(i_holder)}/readyz", timeout=3).status_code == 503, 30,
                         "the drained worker's /readyz to turn 503")
        await asyncio.sleep(4)  # one OPTIONS round of kamailio (3 s): the worker is now marked inactive
        short = speech_clip_8k(tmp_path, "001.wav", pad_s=3.0)
        for n in range(2):
            out, _ = await call(tmp_path, f"d{n}", dep.ports["kamailio"], short, 8)
        out, received = await long_task
        assert answered_after(received, question_s) > 300, out[-2000:]
        # The worker logs its drain's end just after the long call's BYE: wait for it, then it exits.
        drained = await wait_until(lambda: "drained: no live call left" in worker_logs(dep, holder), 60,
                                   "the drained worker to log that no live call is left")
        assert drained
        rows = await wait_until(lambda: (r := calls_in_store(dep)) and len(r) == 5
                                and all(c["ended_at"] for c in r) and r, 60, "five calls recorded as ended")
        assert len(rows) == 5, rows  # no call record lost
        assert all(r["ended_at"] is not None and not r["abnormal"] for r in rows), rows
        long_row = next(r for r in rows if r["id"] == live[0]["id"])
        # A normal end: the caller hung up, or the bot did after its silence prompts (the caller's clip ends
        # in silence); never "drain_timeout" or an abnormal end.
        assert long_row["end_reason"] in ("caller_hangup", "silence") and long_row["worker"] == holder, long_row
        after = rows[3:]
        assert all(r["worker"] != holder for r in after), rows  # both new calls went to the other worker
        figures["calls_lost_during_drain"] = 0
        # Last (the slowest part on a loaded machine): every worker answered a question in speech.
        answers: dict[str, int] = {}
        for r in rows:
            answers[r["worker"]] = answers.get(r["worker"], 0) + bot_turns(dep, r["id"])
        figures["answered_turns_by_worker"] = answers
        assert set(answers) == {"voicebot-1", "voicebot-2"} and all(n >= 1 for n in answers.values()), answers
    finally:
        for w in ("voicebot-1", "voicebot-2"):
            logs = podman("logs", dep.container(w))
            (ROOT / "test-artifacts").mkdir(exist_ok=True)
            (ROOT / "test-artifacts" / f"deploy-e2e-{w}.log").write_text(logs.stdout + logs.stderr)
        figures["podman_ps"] = podman("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout[-2000:]
        out_dir = ROOT / "test-artifacts"
        out_dir.mkdir(exist_ok=True)
        (out_dir / "deploy-e2e.json").write_text(json.dumps(figures, indent=2))
        dep.down()
