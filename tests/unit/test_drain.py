"""Drain logic (voicebot.drain): entry points close at once, exit when the last call ends or at the timeout."""

from __future__ import annotations

import asyncio

from voicebot.drain import Drain
from voicebot.telephony.capacity import Capacity


async def test_drain_closes_entry_points_and_waits_for_the_last_call():
    calls = [2]
    admission = Capacity(4)
    drain = Drain(lambda: calls[0], timeout_s=30, poll_s=0.01)
    drain.on_start(lambda: setattr(admission, "draining", True))
    done = asyncio.Event()
    assert admission.try_enter()
    admission.leave()
    task = drain.begin(done.set)
    assert drain.draining and not admission.try_enter()  # refused from the first instant
    assert drain.begin(done.set) is task  # a second SIGTERM-triggered begin does not restart it
    await asyncio.sleep(0.05)
    assert not done.is_set()
    calls[0] = 1
    await asyncio.sleep(0.05)
    assert not done.is_set()
    calls[0] = 0
    await asyncio.wait_for(done.wait(), 2)


async def test_drain_gives_up_at_the_timeout():
    done = asyncio.Event()
    drain = Drain(lambda: 3, timeout_s=0.05, poll_s=0.01)
    drain.begin(done.set)
    await asyncio.wait_for(done.wait(), 2)  # calls still live: the worker hangs them up on exit


async def test_a_failing_listener_does_not_stop_the_drain():
    done = asyncio.Event()
    drain = Drain(lambda: 0, timeout_s=5, poll_s=0.01)
    drain.on_start(lambda: 1 / 0)
    seen = []
    drain.on_start(lambda: seen.append(True))
    drain.begin(done.set)
    await asyncio.wait_for(done.wait(), 2)
    assert seen == [True]
