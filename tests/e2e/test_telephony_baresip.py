"""baresip (a real softphone) calls the bot: audio both ways, BYE from the bot, transfer by REFER."""

from __future__ import annotations

import asyncio
import contextlib


from telephony_bots import BotFactory
from telephony_peers import (baresip_home, baresip_recordings, free_port_range, free_udp_port,
                             read_wav, rms, run_baresip, run_sipp, sipp_args, speech_clip_8k,
                             windowed_correlation)

from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sip_transport import SipEndpoint



@contextlib.asynccontextmanager
async def endpoint(on_call, on_event=None, **overrides):
    rtp_min, rtp_max = free_port_range()
    settings = SipSettings(host="127.0.0.1", port=free_udp_port(), enabled=True, rtp_port_min=rtp_min,
                           rtp_port_max=rtp_max, **overrides)
    ep = SipEndpoint(settings, on_call, on_event=on_event)
    await ep.start()
    try:
        yield ep
    finally:
        await ep.stop()


async def test_baresip_hears_its_own_french_speech_echoed_and_the_bot_hangs_up(tmp_path):
    """16 kHz pipeline: G.711 8 kHz -> soxr -> 16 kHz -> echo -> soxr -> 8 kHz G.711 back to baresip."""
    clip = speech_clip_8k(tmp_path, "001.wav", pad_s=6.0)
    clip_pcm, _ = read_wav(clip)
    speech_s = (len(clip_pcm) / 8000) - 6.0
    factory = BotFactory("echo", sample_rate=16000, hangup_after_s=speech_s + 1.5)
    async with endpoint(factory.on_call) as ep:
        home = baresip_home(tmp_path, clip, free_udp_port(), free_port_range(20))
        out = await run_baresip(home, [(0.3, f"/dial sip:bot@127.0.0.1:{ep.port}")],
                                quit_after_s=int(speech_s + 5))
        await asyncio.wait_for(factory.records[0].done.wait(), 10)
    record = factory.records[0]
    assert record.end_reason == "bot_hangup", out[-2000:]
    assert "terminated" in out.lower() or "closed" in out.lower(), out[-2000:]
    _, received = baresip_recordings(home)
    assert received is not None, out[-2000:]
    heard, rate = read_wav(received)
    assert rate == 8000
    assert rms(heard) > 300  # not silence
    corr = windowed_correlation(clip_pcm[: int(speech_s * 8000)], heard, 8000)
    assert corr > 0.85, corr


async def test_transfer_by_refer_reaches_the_agent_and_the_bot_hangs_up(tmp_path):
    """baresip is the caller; a sipp UAS plays the agent; the bot REFERs, sees NOTIFY 200, sends BYE."""
    clip = speech_clip_8k(tmp_path, "002.wav", pad_s=10.0)
    agent_port = free_udp_port()
    results: list[bool] = []
    calls = []

    async def on_call(transport, session) -> None:
        calls.append(session)
        await asyncio.sleep(1.0)
        results.append(await session.transfer("funding", ""))
        if not results[-1]:
            await session.hangup("bot_hangup")

    async with endpoint(on_call, agent_queues={"funding": f"sip:agent@127.0.0.1:{agent_port}"}) as ep:
        agent = asyncio.create_task(run_sipp(sipp_args("uas", agent_port, "", "-mp", str(free_port_range(8)[0]))[:-1],
                                             tmp_path, timeout=40))
        home = baresip_home(tmp_path, clip, free_udp_port(), free_port_range(20))
        out = await run_baresip(home, [(0.3, f"/dial sip:bot@127.0.0.1:{ep.port}")], quit_after_s=7)
        agent_result = await agent
    assert results == [True], out[-3000:]
    assert (await asyncio.wait_for(calls[0].wait_ended(), 5)) == "transfer"
    assert agent_result.rc == 0, agent_result.output  # the agent got the caller's INVITE and the BYE


async def test_failed_transfer_reports_false_and_the_call_goes_on(tmp_path):
    """The agent side refuses (403): NOTIFY carries the failure, transfer() is False, no BYE is sent."""
    clip = speech_clip_8k(tmp_path, "003.wav", pad_s=8.0)
    results: list[bool] = []
    still_up: list[bool] = []
    events = []

    async def on_call(transport, session) -> None:
        await asyncio.sleep(0.5)
        results.append(await session.transfer("funding", ""))
        await asyncio.sleep(0.5)
        still_up.append(not session.ended)
        await session.hangup("bot_hangup")

    async def refuse(transport, session) -> None:  # never called: every INVITE is refused
        raise AssertionError("the refusing agent answered")

    async with endpoint(refuse, allowed_cidrs=["10.255.255.0/24"]) as agent_ep:
        async with endpoint(on_call, on_event=events.append,
                            agent_queues={"funding": f"sip:agent@127.0.0.1:{agent_ep.port}"}) as ep:
            home = baresip_home(tmp_path, clip, free_udp_port(), free_port_range(20))
            out = await run_baresip(home, [(0.3, f"/dial sip:bot@127.0.0.1:{ep.port}")], quit_after_s=5)
        assert agent_ep.stats["forbidden"] >= 1
    assert results == [False], out[-3000:]
    assert still_up == [True]
    transfer = [e for e in events if e.type == "transfer"]
    assert len(transfer) == 1 and transfer[0].data["status"] == "failed" and transfer[0].data["queue"] == "funding"
    assert transfer[0].call_id
