"""RFC 4475 torture messages (tests/golden/sip/torture/, expected answers in expected.json) against a real
SipEndpoint over UDP: each gets the expected response (or none), at the datagram's source only (their
Via hosts are names and documentation addresses), with no exception logged and no crash."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from security_support import ErrorRecords, open_peer, request, sip_endpoint

TORTURE = Path(__file__).resolve().parents[1] / "golden" / "sip" / "torture"
EXPECTED = json.loads((TORTURE / "expected.json").read_text(encoding="utf-8"))


def _final(statuses: list[int]) -> int | None:
    finals = [s for s in statuses if s >= 200]
    return finals[0] if finals else (statuses[0] if statuses else None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_torture_message_gets_the_expected_answer(name):
    expected = EXPECTED[name]
    data = (TORTURE / f"{name}.sip").read_bytes()
    peer = await open_peer()
    async with sip_endpoint(rate_limit_per_s=0) as (ep, _):
        with ErrorRecords() as errors:
            peer.send(data, ep.port)
            status = _final(await peer.statuses(0.5))
            peer.send(request("OPTIONS", peer, ep.port, f"alive-{name}"), ep.port)
            alive = await peer.recv(status=200, call_id=f"alive-{name}")
        assert not errors.records, [r.getMessage() for r in errors.records]
    peer.close()
    assert alive.call_id == f"alive-{name}"
    if expected["status"] is None:
        assert status is None, f"{name} ({expected['rfc4475']}): expected no answer, got {status}"
    else:
        assert status in expected["status"], f"{name} ({expected['rfc4475']}): {status} not in {expected['status']}"


async def test_the_whole_torture_suite_in_one_burst_leaves_the_endpoint_serving():
    """All the messages, ten times each, back to back: no exception, and the endpoint still answers."""
    peer = await open_peer()
    sent = 0
    async with sip_endpoint(rate_limit_per_s=0) as (ep, _):
        with ErrorRecords() as errors:
            for _ in range(10):
                for name in sorted(EXPECTED):
                    peer.send((TORTURE / f"{name}.sip").read_bytes(), ep.port)
                    sent += 1
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            peer.send(request("OPTIONS", peer, ep.port, "alive"), ep.port)
            await peer.recv(status=200, timeout=3, call_id="alive")
        assert not errors.records, [r.getMessage() for r in errors.records]
    peer.close()
    assert sent == 10 * len(EXPECTED)
