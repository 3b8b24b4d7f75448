import asyncio

from voicebot.calls.bus import MemoryEventBus
from voicebot.calls.control import CallControlRegistry
from voicebot.events import CallEvent


async def test_per_call_and_global_subscriptions():
    bus = MemoryEventBus()
    async with bus.subscribe("a") as only_a, bus.subscribe(None) as every:
        await bus.publish(CallEvent("b", "dtmf", {"digit": "1"}))
        await bus.publish(CallEvent("a", "dtmf", {"digit": "2"}))
        assert (await only_a.get(1)).data == {"digit": "2"}
        assert [(await every.get(1)).call_id for _ in range(2)] == ["b", "a"]
    assert bus.subscriber_count == 0


async def test_slow_subscriber_loses_oldest_and_never_blocks():
    bus = MemoryEventBus(subscriber_queue=3)
    sub = bus.subscribe(None)
    for i in range(10):
        await asyncio.wait_for(bus.publish(CallEvent("a", "dtmf", {"digit": str(i)})), 0.1)
    assert sub.dropped == 7
    assert [(await sub.get(1)).data["digit"] for _ in range(3)] == ["7", "8", "9"]
    await sub.close()


async def test_event_roundtrip():
    ev = CallEvent("a", "turn", {"turn": 1, "sources": ["x"]})
    assert CallEvent.from_dict(ev.to_dict()) == ev


async def test_listen_in_audio_fan_out():
    reg = CallControlRegistry()
    reg.publish_audio("c", b"\x00\x01", 8000)  # nobody listens: no-op
    a, b = reg.listen("c"), reg.listen("c")
    reg.publish_audio("c", b"\x01\x02", 8000)
    assert await asyncio.wait_for(a.__anext__(), 1) == (b"\x01\x02", 8000)
    assert await asyncio.wait_for(b.__anext__(), 1) == (b"\x01\x02", 8000)
    reg.stop_listening(a)
    assert reg.listener_count("c") == 1
    reg.unregister("c")  # call over: listeners end
    assert [x async for x in b] == []
