"""The ``voicebot`` command: serve, call, models (and the capabilities' own commands: kb, ask, users, calls, bench).

User mistakes (bad flag value, missing file, invalid setting) print one line ``voicebot: error: ...`` and
exit with status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path

from voicebot.config import ConfigError, Settings, load_settings

# Capabilities that add their own subcommands with register(subparsers), if present.
COMMAND_MODULES = ("voicebot.knowledge.cli", "voicebot.dialogue.cli", "voicebot.calls.cli",
                   "voicebot.telephony.sip.cli", "benchmarks.cli", "voicebot.backoffice.cli")


def _error(msg: str) -> int:
    print(f"voicebot: error: {msg}", file=sys.stderr)
    return 2


def cmd_serve(args, settings: Settings) -> int:
    from voicebot.app import serve

    return serve(settings)


async def _said(texts: list[str], settings: Settings, directory: Path) -> list[Path]:
    """The caller's questions spoken by the offline voice (espeak-ng), one WAV per question."""
    from voicebot.telephony.caller import write_wav
    from voicebot.tts.engines import EspeakEngine, TTSError

    engine = EspeakEngine(settings.tts.espeak_voice, int(165 * settings.tts.speaking_rate))
    paths = []
    for i, text in enumerate(texts):
        try:
            pcm = await engine.synthesize(text)
        except TTSError as e:
            raise ValueError(f"--say {text!r}: {e}") from None
        path = directory / f"say-{i}.wav"
        write_wav(path, pcm, engine.sample_rate)
        paths.append(path)
    return paths


def cmd_call(args, settings: Settings) -> int:
    import tempfile

    from voicebot.telephony.caller import CallerError, place_call, write_wav

    if not args.turns:
        return _error("give the caller's turns: --wav FILE or --say \"question\" (repeatable)")
    url = args.url or f"ws://127.0.0.1:{settings.server.http_port}/ws/pcm"
    with tempfile.TemporaryDirectory(prefix="voicebot-say-") as tmp:
        try:
            said = iter(asyncio.run(_said([v for k, v in args.turns if k == "say"], settings, Path(tmp))))
            wavs = [Path(v) if k == "wav" else next(said) for k, v in args.turns]
            result = asyncio.run(place_call(url, wavs, rate=args.rate, answer_timeout_s=args.timeout,
                                            caller_id=args.caller))
        except (CallerError, ValueError) as e:
            return _error(str(e))
    if args.out:
        write_wav(Path(args.out), bytes(result.bot_audio), result.rate)
    for t in result.turns:
        if args.json:
            print(json.dumps({"call_id": result.call_id, **t.to_dict()}, ensure_ascii=False))
        else:
            lat = t.latency_ms.get("bot_audio_first")
            print(f"tour {t.turn} | appelant : {t.caller_text or '—'} | bot : {t.bot_text or '—'} | "
                  f"latence : {f'{lat:.0f} ms' if lat is not None else '—'}"
                  f"{f' (fil : {t.wire_latency_ms:.0f} ms)' if t.wire_latency_ms is not None else ''}")
    for err in result.errors:
        print(f"voicebot: server error: {err.get('code')}: {err.get('message')}", file=sys.stderr)
    if not result.connected:
        return _error("the call did not connect")
    if not result.answered:
        print("voicebot: the bot did not answer", file=sys.stderr)
        return 1
    return 0


def cmd_models(args, settings: Settings) -> int:
    from voicebot import models

    try:
        manifest = models.load_manifest(settings.models.manifest)
        if args.models_cmd == "list":
            for role in models.ROLES:
                try:
                    m = models.resolve(role, settings, manifest)
                    flag = " [dégradé]" if m.degraded else ""
                    print(f"{role:5s} {m.source}{flag}\n      {m.path or '-'}")
                except models.ModelError as e:
                    print(f"{role:5s} unavailable: {e}")
            return 0
        if args.models_cmd == "pull":
            for role in args.roles or ["stt", "tts"]:
                for path in models.pull(role, settings, manifest):
                    print(f"{role}: {path}")
            return 0
        if args.models_cmd == "verify":
            bad = 0
            for role, f, ok, detail in models.verify(settings, manifest):
                bad += not ok
                print(f"{'ok ' if ok else 'BAD'} {role:5s} {f} — {detail}")
            return 1 if bad else 0
    except models.ModelError as e:
        return _error(str(e))
    return _error("unknown models command")


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    """--config and --data-dir on a command and, recursively, on its subcommands."""
    known = {a for action in p._actions for a in action.option_strings}
    if "--config" not in known:
        p.add_argument("--config", help="TOML configuration file")
    if "--data-dir" not in known:
        p.add_argument("--data-dir", help="data directory (models prepared here, call data)")
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_settings_flags(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voicebot", description="Assistant vocal souverain (Région Île-de-France)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the voice agent (HTTP, WebSocket media, health, metrics)")
    _add_settings_flags(p)
    p.add_argument("--http-host")
    p.add_argument("--http-port", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("call", help="call the agent with WAV files or spoken text as the caller's turns "
                                    "(test softphone)")
    _add_settings_flags(p)
    p.add_argument("--wav", action="append", dest="turns", type=lambda v: ("wav", v), metavar="FILE",
                   help="a caller turn from a WAV file (repeat for several turns)")
    p.add_argument("--say", action="append", dest="turns", type=lambda v: ("say", v), metavar="TEXT",
                   help="a caller turn spoken from TEXT by the offline voice (espeak-ng); mixes with --wav in order")
    p.add_argument("--url", help="WebSocket URL (default: the binary endpoint of a local `voicebot serve`)")
    p.add_argument("--out", help="write everything the bot said to this WAV file")
    p.add_argument("--json", action="store_true", help="one JSON object per turn")
    p.add_argument("--rate", type=int, default=8000, help="telephone sample rate on the wire (default 8000)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer")
    p.add_argument("--caller", default="", help="caller id sent to the server")
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("models", help="model roles: list, pull (production), verify (hashes)")
    _add_settings_flags(p)
    msub = p.add_subparsers(dest="models_cmd", required=True)
    msub.add_parser("list")
    pull = msub.add_parser("pull")
    pull.add_argument("roles", nargs="*", help="roles to pull (default: stt tts)")
    msub.add_parser("verify")
    p.set_defaults(func=cmd_models)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    for child in sub.choices.values():
        _add_settings_flags(child)
    return parser


def settings_from_args(args) -> Settings:
    overrides = {
        "server.http_host": getattr(args, "http_host", None),
        "server.http_port": getattr(args, "http_port", None),
        "server.data_dir": getattr(args, "data_dir", None),
        "sip.host": getattr(args, "sip_host", None),
        "sip.port": getattr(args, "sip_port", None),
    }
    if overrides["sip.host"] is not None or overrides["sip.port"] is not None:
        overrides["sip.enabled"] = True
    return load_settings(getattr(args, "config", None), overrides)


def main(argv: list[str] | None = None) -> int:
    from voicebot.offline import enforce_offline

    enforce_offline()  # before any library that could phone home is imported
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as e:
        return _error(str(e))
    try:
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
