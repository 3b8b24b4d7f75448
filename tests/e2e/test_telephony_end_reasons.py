"""Every way a SIP call ends is recorded as what it was: sipp calls a real worker (the `voicebot serve`
Worker with its SIP entry on, embedded models, real pipeline, call store) and the stored end reason of
each call is checked: caller BYE, silence, maximum duration, supervisor hang-up, transfer (REFER)."""

from __future__ import annotations

import asyncio

import pytest

from telephony_peers import free_port_range, free_udp_port, run_sipp, sipp_args, sipp_workdir

pytestmark = [pytest.mark.models]


@pytest.fixture
async def worker(tmp_path):
    from voicebot.app import Worker
    from voicebot.config import load_settings

    rtp = free_port_range()
    agent = "sip:agent@127.0.0.1:5999"
    settings = load_settings(None, {
        "server.data_dir": str(tmp_path / "data"), "sip.enabled": True, "sip.host": "127.0.0.1",
        "sip.port": free_udp_port(), "sip.rtp_port_min": rtp[0], "sip.rtp_port_max": rtp[1],
        "sip.agent_queues": {q: agent for q in ("accueil", "aides", "transport", "lycees")},
    })
    w = Worker(settings)
    await w.start()
    try:
        yield w
    finally:
        await w.stop()


async def _live_call_id(worker, timeout: float = 20.0) -> str:
    for _ in range(int(timeout * 10)):
        if worker.calls:
            return next(iter(worker.calls))
        await asyncio.sleep(0.1)
    raise AssertionError("the call never reached the pipeline")


async def _stored_end_reason(worker, call_id: str) -> str | None:
    store = worker.call_services.store
    for _ in range(100):  # the recorder writes from the bus, a moment after the call ended
        call = store.get_call(call_id)
        if call and call.get("end_reason"):
            return call["end_reason"]
        await asyncio.sleep(0.1)
    return None


async def _call(worker, tmp_path, scenario: str, during=None) -> str | None:
    """One sipp call of ``scenario``; ``during(call_id)`` runs while it is up; returns the stored reason."""
    (tmp_path / scenario).mkdir(exist_ok=True)
    work = sipp_workdir(tmp_path / scenario)
    target = f"127.0.0.1:{worker.sip.port}"
    sipp = asyncio.create_task(run_sipp(sipp_args(scenario, free_udp_port(), target,
                                                  "-mp", str(free_port_range(8)[0])), work, timeout=90))
    call_id = await _live_call_id(worker)
    if during is not None:
        await during(call_id)
    result = await sipp
    assert result.rc == 0, result.output
    return await _stored_end_reason(worker, call_id)


async def test_each_way_a_sip_call_ends_is_recorded(worker, tmp_path):
    pipeline = worker.settings.pipeline  # read by each new call's watchdog: set before each call
    pipeline.silence_timeout_s, pipeline.max_call_s = 60.0, 900.0
    assert await _call(worker, tmp_path, "end_caller_bye") == "caller_hangup"

    pipeline.silence_timeout_s = 2.0  # "Vous êtes toujours là ?" then goodbye and BYE
    assert await _call(worker, tmp_path, "end_bot_bye") == "silence"

    pipeline.silence_timeout_s, pipeline.max_call_s = 60.0, 10.0
    assert await _call(worker, tmp_path, "end_bot_bye") == "max_duration"

    pipeline.max_call_s = 900.0

    async def supervisor_hangs_up(call_id: str) -> None:
        await asyncio.sleep(2.0)
        assert await worker.call_services.control.hangup(call_id, by="sup") == "done"

    assert await _call(worker, tmp_path, "end_bot_bye", supervisor_hangs_up) == "supervisor"

    # DTMF 0: "je vous mets en relation…", REFER accepted, agent answered (NOTIFY 200), BYE.
    assert await _call(worker, tmp_path, "end_transfer") == "transfer"
