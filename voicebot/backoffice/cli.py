"""`voicebot backoffice sample [--port N] [--host H] [--db FILE] [--delay-ms N] [--fault MODE]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

API_KEY_ENV = "BACKOFFICE_SAMPLE_API_KEY"
CLIENT_SECRET_ENV = "BACKOFFICE_SAMPLE_CLIENT_SECRET"


def register(subparsers) -> None:
    from voicebot.backoffice.sample import FAULTS

    bo = subparsers.add_parser("backoffice", help="the region's back-office: a sample service for demos and tests")
    bo_sub = bo.add_subparsers(dest="backoffice_command", required=True)
    p = bo_sub.add_parser("sample", help="serve the sample back-office (OpenAPI at /openapi.json)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8780, help="listen port (default 8780)")
    p.add_argument("--db", help="SQLite file of sample dossiers (default DATA_DIR/backoffice-sample.sqlite3; "
                   "created with the sample dossiers if missing)")
    p.add_argument("--api-key", default=os.environ.get(API_KEY_ENV, ""),
                   help=f"require this API key in X-API-Key (or set {API_KEY_ENV})")
    p.add_argument("--client-id", default="", help="require OAuth2 client-credentials tokens for this client "
                   f"(secret in {CLIENT_SECRET_ENV})")
    p.add_argument("--token-ttl", type=int, default=300, help="lifetime of issued tokens, seconds")
    p.add_argument("--delay-ms", type=int, default=0, help="answer status requests after this delay (tests)")
    p.add_argument("--fault", choices=FAULTS, default="none", help="answer status requests wrongly (tests)")
    p.set_defaults(func=sample)


def _error(message: str) -> int:
    print(f"voicebot: error: {message}", file=sys.stderr)
    return 2


def sample(args: argparse.Namespace, settings) -> int:
    from voicebot.backoffice.sample import serve

    if not 1 <= args.port <= 65535:
        return _error(f"invalid port {args.port}")
    if args.delay_ms < 0 or args.token_ttl <= 0:
        return _error("--delay-ms must be >= 0 and --token-ttl > 0")
    secret = os.environ.get(CLIENT_SECRET_ENV, "")
    if args.client_id and not secret:
        return _error(f"--client-id needs the client secret in {CLIENT_SECRET_ENV}")
    db = Path(args.db) if args.db else Path(settings.server.data_dir) / "backoffice-sample.sqlite3"
    print(f"sample back-office on http://{args.host}:{args.port} (OpenAPI: /openapi.json, data: {db})", flush=True)
    return serve(args.host, args.port, db, api_key=args.api_key, client_id=args.client_id, client_secret=secret,
                 token_ttl_s=args.token_ttl, delay_ms=args.delay_ms, fault=args.fault)
