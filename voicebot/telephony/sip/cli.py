"""``voicebot sip probe`` and the ``--sip-host/--sip-port`` flags of ``voicebot serve``.

The probe sends one OPTIONS (as a load balancer does) and prints the answer and its time; the CLI maps
the flags to ``sip.host``/``sip.port``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import sys
import time

from .message import SipParseError, format_host, parse_message, split_host_port


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.choices.get("serve")
    if serve is not None:
        serve.add_argument("--sip-host", help="address of the SIP endpoint (enables SIP)")
        serve.add_argument("--sip-port", type=int, help="UDP port of the SIP endpoint (enables SIP)")
    p = subparsers.add_parser("sip", help="SIP endpoint tools")
    ssub = p.add_subparsers(dest="sip_cmd", required=True)
    probe = ssub.add_parser("probe", help="send OPTIONS to a SIP endpoint (default: this config's) and print the answer")
    probe.add_argument("--target", help="HOST:PORT (default: sip.host:sip.port from the settings)")
    probe.add_argument("--timeout", type=float, default=2.0, help="seconds to wait (default 2)")
    probe.add_argument("--config", help="settings file (TOML)")
    probe.set_defaults(func=cmd_probe)


def _error(msg: str) -> int:
    print(f"voicebot: error: {msg}", file=sys.stderr)
    return 2


def cmd_probe(args, settings) -> int:
    sip = getattr(settings, "sip", None)
    target = args.target or (f"{format_host(sip.host)}:{sip.port}" if sip is not None else "")
    if not target:
        return _error("no --target and no sip section in the settings")
    try:
        host, port = split_host_port(target, 5060)
    except SipParseError as e:
        return _error(f"bad --target {target!r}: {e}")
    try:
        status, reason, rtt_ms = asyncio.run(probe(host, port or 5060, args.timeout))
    except (OSError, TimeoutError) as e:
        return _error(f"no answer from {target}: {e or 'timeout'}")
    print(f"{target} : {status} {reason} ({rtt_ms:.1f} ms)")
    return 0 if status == 200 else 1


async def probe(host: str, port: int, timeout: float) -> tuple[int, str, float]:
    """Send OPTIONS over UDP; return (status, reason, round trip in ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[bytes] = loop.create_future()

    class _Proto(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            if not answer.done():
                answer.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(_Proto, family=family, remote_addr=(host, port))
    try:
        local_host, local_port = transport.get_extra_info("sockname")[:2]
        call_id = secrets.token_hex(8)
        msg = (f"OPTIONS sip:{format_host(host)}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {format_host(local_host)}:{local_port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
               f"From: <sip:probe@{format_host(local_host)}>;tag={secrets.token_hex(4)}\r\n"
               f"To: <sip:{format_host(host)}:{port}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n"
               f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        t0 = time.perf_counter()
        transport.sendto(msg)
        try:
            data = await asyncio.wait_for(answer, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"timeout after {timeout:g} s") from None
        rtt = (time.perf_counter() - t0) * 1000
        resp = parse_message(data)
        return resp.status or 0, resp.reason, rtt
    finally:
        transport.close()
