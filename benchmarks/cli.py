"""`voicebot bench …`: the benchmarks as subcommands (latency; the others run as scripts)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks (latency against a stock pipecat pipeline, …)")
    bsub = bench.add_subparsers(dest="bench_cmd", required=True)
    lat = bsub.add_parser("latency", help="voice-to-voice latency: voicebot vs stock pipecat, same models")
    lat.add_argument("--quick", action="store_true", help="a few turns, 1 and 2 concurrent calls (< 5 min)")
    lat.add_argument("--calls", type=int, help="calls per system in the side-by-side run (default 10, quick 2)")
    lat.add_argument("--json", action="store_true", help="print the summary as JSON")
    lat.add_argument("--ablation", action="store_true", help="also run each optimisation off in turn")
    lat.add_argument("--out", help="results folder (default benchmarks/results/<date>-<machine>/)")
    lat.add_argument("--levels", help="concurrency levels, e.g. 1,10,50,100 (default 1,2,4; quick 1,2)")
    lat.add_argument("--sip", action="store_true", help="also the same clips over SIP/RTP vs WebSocket")
    lat.add_argument("--set", action="append", default=[], metavar="VOICEBOT_X__Y=VALUE",
                     help="a setting for voicebot's server in this run (repeatable)")
    lat.add_argument("--skip-reference", action="store_true", help="voicebot only (e.g. on a GPU server)")
    lat.add_argument("--no-product", action="store_true",
                     help="skip the product section (grounded answers on in-scope spoken questions)")
    lat.set_defaults(func=_latency)


def _latency(args, settings) -> int:
    from benchmarks.latency import run

    levels = [int(x) for x in args.levels.split(",")] if args.levels else None
    return run(settings, quick=args.quick, calls=args.calls, as_json=args.json, ablation=args.ablation, out=args.out,
               levels=levels, skip_reference=args.skip_reference, config=args.config, sip=args.sip,
               overrides=dict(kv.split("=", 1) for kv in args.set), product=not args.no_product)
