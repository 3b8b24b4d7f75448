"""Many workers, one service: two workers (each its calls services + monitor on its own HTTP server)
share a real redis-server and one store. A supervisor logged in on worker 1 hears a call held by
worker 2 (audio relayed through Redis only while someone listens), and failed logins count across
workers (the login limiter lives in Redis)."""

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import PASSWORDS, ScriptedCall, ScriptedSession, monitor_app, redis_server, wait_for  # noqa: E402

from voicebot.calls.settings import CallsSettings  # noqa: E402
from voicebot.monitor.auth import RedisLoginLimiter  # noqa: E402
from voicebot.monitor.settings import MonitorSettings  # noqa: E402
from voicebot.call import CallInfo  # noqa: E402


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


def _settings(redis_url: str, tmp_path: Path, prefix: str) -> tuple[CallsSettings, CallsSettings]:
    s1 = CallsSettings(bus="redis", redis_url=redis_url, redis_prefix=prefix,
                       store_url=f"sqlite:///{tmp_path}/shared.sqlite3", worker_id="w1")
    return s1, s1.model_copy(update={"worker_id": "w2"})


async def test_supervisor_on_worker_1_hears_a_call_held_by_worker_2(redis_url, tmp_path):
    s1, s2 = _settings(redis_url, tmp_path, "mw1")
    async with monitor_app(tmp_path / "1", calls_settings=s1) as w1, monitor_app(tmp_path / "2", calls_settings=s2) as w2:
        w2.services.control.register(ScriptedSession(CallInfo("call-on-w2", "sip", "+33145678901")))
        call = ScriptedCall(w2.bus, "call-on-w2", caller="+33145678901", worker="w2")
        await call.start()
        relay2 = w2.services.control.relay
        assert relay2 is not None and not relay2.wanted("call-on-w2")  # nobody listens: nothing on Redis
        sup = await w1.login("sup")
        await wait_for(lambda: w1.ctx.board.snapshot("call-on-w2"))
        cookie = f"vb_session={sup.cookies.get('vb_session')}"
        url = w1.base_url.replace("http://", "ws://") + "/monitor/ws/listen/call-on-w2"
        sent = (np.sin(np.arange(320) / 5.0) * 8000).astype("<i2").tobytes()  # 20 ms at 16 kHz
        heard: list[bytes] = []
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            await wait_for(lambda: relay2.wanted("call-on-w2"), 10)  # worker 2 was asked for the audio
            header = None
            for _ in range(200):
                w2.services.control.publish_audio("call-on-w2", sent, 16000)  # what the pipeline's tap does
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.05)
                except asyncio.TimeoutError:
                    continue
                if isinstance(msg, bytes):
                    heard.append(msg)
                    if len(heard) >= 5:
                        break
                else:
                    header = msg
            assert header is not None and json.loads(header) == {"type": "audio", "rate": 16000, "format": "s16le"}
        assert len(heard) >= 5 and all(chunk == sent for chunk in heard)
        await wait_for(lambda: not relay2.wanted("call-on-w2"), 10)  # the listener left: relay stops
        await call.end()
        await sup.aclose()


async def test_listen_to_an_unknown_call_is_refused_on_every_worker(redis_url, tmp_path):
    s1, _ = _settings(redis_url, tmp_path, "mw2")
    async with monitor_app(tmp_path / "1", calls_settings=s1) as w1:
        sup = await w1.login("sup")
        cookie = f"vb_session={sup.cookies.get('vb_session')}"
        url = w1.base_url.replace("http://", "ws://") + "/monitor/ws/listen/no-such-call"
        async with websockets.connect(url, additional_headers={"Cookie": cookie}) as ws:
            first = await asyncio.wait_for(ws.recv(), 5)
            assert '"error"' in first
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd.code == 4404
        await sup.aclose()


async def test_failed_logins_count_across_workers(redis_url, tmp_path):
    s1, s2 = _settings(redis_url, tmp_path, "mw3")
    ms = MonitorSettings(login_delay_s=0.0, login_max_failures=3)
    async with monitor_app(tmp_path / "1", calls_settings=s1, monitor_settings=ms) as w1, \
            monitor_app(tmp_path / "2", calls_settings=s2, monitor_settings=ms) as w2:
        assert isinstance(w1.ctx.limiter, RedisLoginLimiter) and isinstance(w2.ctx.limiter, RedisLoginLimiter)
        import httpx

        async with httpx.AsyncClient(timeout=10, headers={"Accept": "application/json"}) as c:
            for base in (w1.base_url, w2.base_url, w1.base_url):  # spread over both workers
                r = await c.post(f"{base}/login", data={"username": "sup", "password": "faux"})
                assert r.status_code == 401
            # the budget (3) is spent on the two workers together: even the right password waits now
            r = await c.post(f"{w2.base_url}/login", data={"username": "sup", "password": PASSWORDS["sup"]})
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0, r.text
            other = await c.post(f"{w2.base_url}/login", data={"username": "agent", "password": PASSWORDS["agent"]})
            assert other.status_code == 200  # another account from the same address still logs in
