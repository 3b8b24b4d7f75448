"""Behind a load balancer: kamailio's dispatcher in front of two bot worker processes."""

from __future__ import annotations

import asyncio
import signal


from telephony_peers import bot_worker, free_udp_port, kamailio, run_sipp, sipp_args



def answered(path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def test_calls_spread_over_two_workers_follow_record_route_and_fail_over(tmp_path):
    p1, p2, lb = free_udp_port(), free_udp_port(), free_udp_port()
    calls1, calls2 = tmp_path / "w1.calls", tmp_path / "w2.calls"
    async with bot_worker(p2, calls2):
        async with bot_worker(p1, calls1) as worker1:
            async with kamailio(tmp_path, lb, [p1, p2]):
                spread = await run_sipp(sipp_args("uac_via_proxy", free_udp_port(), f"127.0.0.1:{lb}")[:-3]
                                        + ["-m", "4", "-r", "4", "-l", "4", f"127.0.0.1:{lb}"], tmp_path)
                assert spread.rc == 0, spread.output
                assert len(answered(calls1)) >= 1 and len(answered(calls2)) >= 1
                assert len(answered(calls1)) + len(answered(calls2)) == 4
                # ACK and BYE went through kamailio to the right worker: every call ended with 200
                # for BYE (sipp's rc 0 above), and the workers saw no stray call.
                worker1.send_signal(signal.SIGTERM)
                await asyncio.wait_for(worker1.wait(), 15)
                before = len(answered(calls2))
                failover = await run_sipp(sipp_args("uac_via_proxy", free_udp_port(), f"127.0.0.1:{lb}")[:-3]
                                          + ["-m", "2", "-r", "1", "-l", "1", f"127.0.0.1:{lb}"], tmp_path,
                                          timeout=60)
                assert failover.rc == 0, failover.output
                assert len(answered(calls2)) == before + 2
