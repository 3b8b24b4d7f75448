"""Redis event bus with a real redis-server; two workers sharing Redis and one PostgreSQL-less SQLite store."""

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import ScriptedCall, ScriptedSession, monitor_app, redis_server, wait_for  # noqa: E402

from voicebot.calls.bus import RedisEventBus  # noqa: E402
from voicebot.events import CallEvent  # noqa: E402
from voicebot.calls.settings import CallsSettings  # noqa: E402
from voicebot.call import CallInfo  # noqa: E402


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


async def test_publish_subscribe_across_connections(redis_url):
    a, b = RedisEventBus(redis_url, "t1"), RedisEventBus(redis_url, "t1")
    try:
        async with b.subscribe("x") as only_x, b.subscribe(None) as every:
            await a.publish(CallEvent("y", "dtmf", {"digit": "5"}))
            sent = CallEvent("x", "turn", {"turn": 0, "caller_text": "bonjour", "sources": ["s"]})
            await a.publish(sent)
            assert await only_x.get(5) == sent
            assert [(await every.get(5)).call_id for _ in range(2)] == ["y", "x"]
    finally:
        await a.close()
        await b.close()


async def test_two_workers_supervisor_on_one_sees_calls_of_the_other(redis_url, tmp_path):
    store_url = f"sqlite:///{tmp_path}/shared.sqlite3"
    s1 = CallsSettings(bus="redis", redis_url=redis_url, redis_prefix="t2", store_url=store_url, worker_id="w1")
    s2 = s1.model_copy(update={"worker_id": "w2"})
    async with monitor_app(tmp_path / "1", calls_settings=s1) as w1, monitor_app(tmp_path / "2", calls_settings=s2) as w2:
        session = ScriptedSession(CallInfo("call-on-w2", "ws-pcm", "+33145678901"))
        w2.services.control.register(session)
        call = ScriptedCall(w2.bus, "call-on-w2", caller="+33145678901", worker="w2")
        await call.start()
        await call.say("Où trouver la carte des lycées ?", "Sur le site de la Région.", sources=["Lycées"])
        sup = await w1.login("sup")  # supervisor connected to worker 1
        calls = await wait_for(lambda: _calls_with_turn(sup))
        assert calls[0]["id"] == "call-on-w2" and calls[0]["worker"] == "w2" and calls[0]["topic"] == "Lycées"
        # the action goes to worker 2 through the bus
        csrf = (await sup.get("/api/me")).json()["csrf_token"]
        r = await sup.post("/api/calls/call-on-w2/transfer", data={"queue": "lycees", "csrf_token": csrf})
        assert r.json()["status"] == "forwarded"
        await asyncio.wait_for(session.transferred.wait(), 5)
        assert session.transfers == [("lycees", "lycees")]
        # only worker 2 recorded the call; one handoff card, visible from worker 1
        card = await wait_for(lambda: _handoff(sup, "call-on-w2"))
        assert card["reason"] == "supervisor" and card["queue"] == "lycees"
        assert len(w1.services.store.recent_handoffs(call_id="call-on-w2")) == 1
        assert w1.services.store.get_call("call-on-w2")["worker_id"] == "w2"
        await sup.aclose()


async def _calls_with_turn(client):
    calls = (await client.get("/api/calls")).json()
    return calls if calls and calls[0]["turns"] == 1 else None


async def _handoff(client, call_id):
    r = await client.get(f"/api/handoffs/{call_id}")
    return r.json() if r.status_code == 200 else None
