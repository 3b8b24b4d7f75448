"""`voicebot chat`: the call's dialogue logic in text, one caller utterance per line.

Each line of standard input (or each line typed, interactively) is one caller turn; it goes through the
same DialogueManager and knowledge answerer as a call. Per turn: {"caller", "answer", "speech", "action",
"sources"} (one JSON object per line with --json). The conversation ends, as a call does, on a transfer
or a hang-up; lines after that are not read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from datetime import date
from typing import Any, TextIO


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("chat", help="dialoguer par écrit avec l'agent (une phrase de l'appelant par ligne)")
    p.add_argument("--config", help="fichier de configuration TOML", default=argparse.SUPPRESS)
    p.add_argument("--data-dir", help="dossier de données", default=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true",
                   help='une ligne JSON par tour : {"caller", "answer", "speech", "action", "sources"}')
    p.add_argument("--backend", choices=("extractive", "llm"), help="forcer le mode de réponse")
    p.add_argument("--date", type=_iso_date, help="date de l'appel AAAA-MM-JJ (par défaut : aujourd'hui)")
    p.set_defaults(func=cmd_chat)
    # `voicebot kb eval` puts its questions through the dialogue manager, as a call does (follow-ups).
    kb = subparsers.choices.get("kb")
    kb_actions = [a for a in getattr(kb, "_actions", []) if isinstance(a, argparse._SubParsersAction)]
    for action in kb_actions:
        if "eval" in action.choices:
            action.choices["eval"].set_defaults(ask=ask_through_dialogue)


async def ask_through_dialogue(service: Any, item: Any, backend: str) -> Any:
    """One evaluation question (after its context turns) through a fresh dialogue, as in a call."""
    from voicebot.dialogue.manager import DialogueManager
    from voicebot.knowledge.evaluation import TurnResult
    from voicebot.knowledge.voice import KnowledgeAnswerer

    manager = DialogueManager(KnowledgeAnswerer(service, backend, on_date=item.on_date), [])
    for previous in item.context:
        await run_turn(manager, previous)
    reply = await manager.respond(item.question)
    spoken = [p async for p in reply.pieces] if reply.pieces is not None else []
    reply.commit(spoken or [reply.speech])
    meta = reply.meta
    speech = " ".join(spoken) or reply.speech
    return TurnResult(answer=meta.answer or reply.answer or speech, speech=speech, action=reply.action,
                      refused=meta.fallback == "no_answer" or reply.action == "transfer",
                      scheme=meta.scheme if reply.pieces is not None else None, grounded=bool(meta.grounded),
                      guard=meta.guard, fallback=meta.fallback)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date invalide « {value} » (attendu : AAAA-MM-JJ)") from None


def cmd_chat(args: argparse.Namespace, settings: Any) -> int:
    from voicebot.knowledge.cli import _llm_errors, _service, _user_errors, llm_endpoint

    try:
        service = _service(settings)
    except _user_errors() as exc:
        print(f"voicebot: error: {exc}", file=sys.stderr)
        return 2
    backend = args.backend or service.settings.backend
    try:
        with (llm_endpoint(settings) if backend == "llm" else contextlib.nullcontext(None)) as url:
            if backend == "llm" and url:
                service.use_llm(url, getattr(getattr(settings, "llm", None), "model", "") or None)
            return asyncio.run(_chat(service, backend, settings, args, sys.stdin, sys.stdout))
    except _llm_errors() as exc:
        print(f"voicebot: error: LLM indisponible : {exc}", file=sys.stderr)
        return 2
    finally:
        service.close()


async def _chat(service: Any, backend: str, settings: Any, args: argparse.Namespace, stdin: TextIO,
                stdout: TextIO) -> int:
    from voicebot.dialogue.factory import build_flows
    from voicebot.dialogue.manager import DialogueManager
    from voicebot.knowledge.voice import KnowledgeAnswerer

    manager = DialogueManager(KnowledgeAnswerer(service, backend, on_date=args.date), build_flows(settings))
    interactive = stdin.isatty() and not args.json
    while True:
        if interactive:
            stdout.write("appelant> ")
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return 0
        text = line.strip()
        if not text:
            continue
        turn = await run_turn(manager, text)
        if args.json:
            stdout.write(json.dumps(turn, ensure_ascii=False) + "\n")
        else:
            stdout.write(f"[{turn['action']}] {turn['speech']}\n")
            for s in turn["sources"]:
                if s.get("title"):
                    stdout.write(f"  source : {s['title']} (version {s.get('version')})\n")
        stdout.flush()
        if turn["action"] in ("transfer", "hangup"):
            return 0


async def run_turn(manager: Any, text: str) -> dict[str, Any]:
    """One caller turn through the dialogue manager, as the call's responder runs it."""
    reply = await manager.respond(text)
    spoken: list[str] = []
    if reply.pieces is not None:
        async for piece in reply.pieces:
            spoken.append(piece)
    else:
        spoken = [reply.speech] if reply.speech else []
    reply.commit(spoken)
    speech = " ".join(spoken)
    sources = [s for s in reply.meta.sources if "chunk" not in s]
    return {"caller": text, "answer": reply.meta.answer or reply.answer or speech, "speech": speech,
            "action": reply.action, "sources": sources}
