"""Call-record integrity under attack, with the real bus, recorder and SQLite store: one call's event flood
never erases another call's record (issue 14, finding 7), and a purge really erases (finding 4)."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from calls_support import ScriptedCall, wait_for
from voicebot.calls.bus import MemoryEventBus, Subscription
from voicebot.events import CallEvent
from voicebot.calls.runtime import CallServices
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore


async def test_a_flooding_call_loses_its_own_events_never_another_calls_record(tmp_path):
    """A slow recorder (queue of 50) while call A floods 5000 keypad events: call B keeps everything."""
    bus = MemoryEventBus(subscriber_queue=50)
    svc = CallServices.build(CallsSettings(worker_id="w", subscriber_queue=50), tmp_path, bus=bus)
    await svc.start()
    try:
        flooder, victim = ScriptedCall(bus, "flooder", worker="w"), ScriptedCall(bus, "victim", worker="w")
        await flooder.start()
        sent = 0
        for i in range(5000):  # published without yielding: the recorder cannot keep up
            await bus.publish(CallEvent("flooder", "dtmf", {"digit": "•"}))
            sent += 1
            if i == 2500:
                await victim.start()
                await victim.say("Combien coûte le passe Navigo ?", "Il coûte 90,80 euros par mois.")
                await victim.end()
        await flooder.end()
        call = await wait_for(lambda: (c := svc.store.get_call("victim")) and c["ended_at"] and c, 15)
        assert call["channel"] == "ws-pcm" and call["turns"] == 1 and call["end_reason"] == "caller_hangup"
        assert [t["caller_text"] for t in svc.store.turns("victim")] == ["Combien coûte le passe Navigo ?"]
        started = svc.store.events("victim", ["call_started", "call_ended", "transcript_final"])
        assert [e["type"] for e in started] == ["call_started", "transcript_final", "call_ended"]
        flood = await wait_for(lambda: svc.store.get_call("flooder")["ended_at"] and svc.store.get_call("flooder"))
        assert flood["end_reason"] == "caller_hangup"  # the flooder's own lifecycle survives too
        assert svc.recorder._sub.dropped > 0 and sent == 5000  # events were dropped: only the flooder's
    finally:
        await svc.stop()


async def test_subscription_evicts_the_busiest_calls_droppable_events_first():
    sub = Subscription(None, 4, on_close=lambda s: asyncio.sleep(0))
    sub.offer(CallEvent("b", "call_started", {}))
    for _ in range(10):
        sub.offer(CallEvent("a", "dtmf", {"digit": "•"}))
    sub.offer(CallEvent("b", "state", {"state": "listening"}))
    sub.offer(CallEvent("b", "turn", {"turn": 0}))
    kinds = [(e.call_id, e.type) for e in list(sub._items)]
    assert ("b", "call_started") in kinds and ("b", "turn") in kinds and ("b", "state") in kinds
    assert sum(1 for c, _ in kinds if c == "a") <= 2 and sub.dropped >= 8


async def test_purge_leaves_nothing_in_the_database_file_or_its_wal(tmp_path):
    store = CallStore(f"sqlite:///{tmp_path}/calls.sqlite3")
    store.migrate()
    marker = "MARQUEUR-PURGE-7f3a91"
    old = time.time() - 40 * 86400
    for i in range(30):
        store.start_call(f"old-{i}", started_at=old, channel="ws-pcm", caller="06 •••••• 78")
        store.add_turn(f"old-{i}", 0, ended_at=old, caller_text=f"{marker} question {i}", bot_text=f"{marker} réponse")
        store.end_call(f"old-{i}", ended_at=old, reason="caller_hangup")
    store.start_call("recent", started_at=time.time(), channel="ws-pcm")
    assert store.purge(30 * 86400) == 30
    assert store.get_call("recent") is not None
    store.close()
    for path in tmp_path.glob("calls.sqlite3*"):  # the database, its -wal and -shm
        assert marker.encode() not in path.read_bytes(), path.name
    with sqlite3.connect(tmp_path / "calls.sqlite3") as conn:  # and the store still works
        assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == 1
