"""`voicebot sip probe` against a running SIP endpoint, and its one-line errors."""

from __future__ import annotations

import argparse
import asyncio

from voicebot.telephony.settings import SipSettings
from voicebot.telephony.sip import cli
from voicebot.telephony.sip_transport import SipEndpoint


class _Settings:
    def __init__(self, sip: SipSettings) -> None:
        self.sip = sip


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve")
    serve.set_defaults(func=None)
    cli.register(sub)
    return parser.parse_args(argv)


async def test_probe_reports_200_from_the_endpoint(capsys):
    async def never(transport, session) -> None:
        raise AssertionError("no call expected")

    ep = SipEndpoint(SipSettings(port=0), never)
    await ep.start()
    try:
        args = _parse(["sip", "probe", "--target", f"127.0.0.1:{ep.port}"])
        rc = await asyncio.to_thread(args.func, args, _Settings(SipSettings(port=ep.port)))
    finally:
        await ep.stop()
    out = capsys.readouterr().out
    assert rc == 0 and f"127.0.0.1:{ep.port} : 200 OK (" in out


def test_probe_errors_are_one_line(capsys):
    args = _parse(["sip", "probe", "--target", "[::1"])
    assert args.func(args, _Settings(SipSettings())) == 2
    err = capsys.readouterr().err
    assert err.startswith("voicebot: error: bad --target '[::1'") and err.count("\n") == 1
    args = _parse(["sip", "probe", "--target", "127.0.0.1:9", "--timeout", "0.3"])
    assert args.func(args, _Settings(SipSettings())) == 2
    assert "voicebot: error: no answer from 127.0.0.1:9" in capsys.readouterr().err


def test_serve_gets_sip_flags():
    args = _parse(["serve", "--sip-host", "0.0.0.0", "--sip-port", "5070"])
    assert (args.sip_host, args.sip_port) == ("0.0.0.0", 5070)
