"""`voicebot kb ingest|diff|eval` and `voicebot ask`: the knowledge base from the command line.

Each handler is `handler(args, settings) -> int`; user mistakes print one line
`voicebot: error: …` on stderr and return 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from voicebot.french.dates import french_date


def register(subparsers: Any) -> None:
    kb = subparsers.add_parser("kb", help="base de connaissances : ingest, diff, eval")
    _settings_flags(kb)
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)

    p = kb_sub.add_parser("ingest", help="ingérer des fichiers ou dossiers (Markdown, HTML, PDF, texte)")
    _settings_flags(p)
    p.add_argument("paths", nargs="+", type=Path, help="fichiers ou dossiers")
    p.add_argument("--json", action="store_true", help="rapport en JSON")
    p.set_defaults(func=cmd_ingest)

    p = kb_sub.add_parser("diff", help="écarts de valeurs entre versions d'un dispositif")
    _settings_flags(p)
    p.add_argument("scheme", nargs="?", help="identifiant du dispositif (par défaut : tous)")
    p.add_argument("--json", action="store_true", help="sortie JSON")
    p.add_argument("--all", action="store_true", help="inclure les lignes ajoutées ou retirées et les reformulations")
    p.set_defaults(func=cmd_diff)

    p = kb_sub.add_parser("eval", help="évaluer recherche et réponses sur un fichier JSONL de questions")
    _settings_flags(p)
    p.add_argument("file", type=Path, help="questions (JSONL)")
    p.add_argument("--backend", choices=("extractive", "llm"), default="extractive")
    p.add_argument("--json", action="store_true", help="rapport JSON")
    p.add_argument("--calibrate", action="store_true", help="proposer un seuil knowledge.min_relevance")
    p.add_argument("--spoken", action="store_true",
                   help="poser les questions à voix haute dans de vrais appels WebSocket")
    p.add_argument("--voice", choices=("kokoro", "espeak"), default="kokoro",
                   help="avec --spoken : voix de l'appelant synthétique (kokoro : Kokoro-82M, la plus "
                        "intelligible hors ligne ; espeak : espeak-ng)")
    p.add_argument("--url", help="avec --spoken : ws://HÔTE:PORT/ws/pcm d'un voicebot serve déjà lancé "
                                 "(sinon un serveur est démarré)")
    p.add_argument("--limit", type=int, default=30, help="avec --spoken : nombre de questions (défaut 30)")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("ask", help="poser une question à la base de connaissances (sans audio)")
    _settings_flags(p)
    p.add_argument("question", help="la question, en français")
    p.add_argument("--json", action="store_true", help='{"answer", "speech", "sources", "grounded", "fallback"}')
    p.add_argument("--date", type=_iso_date, help="date de l'appel AAAA-MM-JJ (par défaut : aujourd'hui)")
    p.add_argument("--backend", choices=("extractive", "llm"), help="forcer le mode de réponse")
    p.set_defaults(func=cmd_ask)


def _settings_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="fichier de configuration TOML", default=argparse.SUPPRESS)
    p.add_argument("--data-dir", help="dossier de données", default=argparse.SUPPRESS)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date invalide « {value} » (attendu : AAAA-MM-JJ)") from None


def _error(msg: str) -> int:
    print(f"voicebot: error: {msg}", file=sys.stderr)
    return 2


def _service(settings: Any, *, auto_samples: bool = True) -> Any:
    from voicebot.knowledge.service import KnowledgeService

    return KnowledgeService.from_settings(settings, open_only=not auto_samples)


def _user_errors() -> tuple[type[Exception], ...]:
    from voicebot.knowledge.evaluation import EvalFileError
    from voicebot.knowledge.ingest import IngestError
    from voicebot.knowledge.service import KnowledgeError

    errors: list[type[Exception]] = [IngestError, KnowledgeError, EvalFileError]
    try:
        import psycopg

        errors.append(psycopg.OperationalError)
    except ImportError:
        pass
    return tuple(errors)


def cmd_ingest(args: argparse.Namespace, settings: Any) -> int:
    try:
        service = _service(settings, auto_samples=False)
        try:
            report = service.ingest(args.paths)
        finally:
            service.close()
    except _user_errors() as exc:
        return _error(str(exc))
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(f"{len(report.added)} document(s) ajouté(s), {len(report.updated)} mis à jour, "
              f"{len(report.unchanged)} inchangé(s) ; {report.chunks} passage(s) indexé(s) ; "
              f"{report.discrepancies} écart(s) entre versions.")
    return 0


_VALUE_KINDS = {"amount", "rate", "date", "age", "threshold", "number"}


def cmd_diff(args: argparse.Namespace, settings: Any) -> int:
    try:
        service = _service(settings)
        try:
            items = service.diff(args.scheme)
            known = {d.scheme for d in service.store.documents()}
        finally:
            service.close()
    except _user_errors() as exc:
        return _error(str(exc))
    if args.scheme and args.scheme not in known:
        return _error(f"dispositif inconnu « {args.scheme} » (connus : {', '.join(sorted(known))})")
    if not args.all:
        items = [d for d in items if d.kind in _VALUE_KINDS]
    if args.json:
        print(json.dumps([d.as_dict() for d in items], ensure_ascii=False, indent=2))
        return 0
    if not items:
        print("Aucun écart entre versions.")
    for d in items:
        old_day = french_date(d.old_date) if d.old_date else "?"
        new_day = french_date(d.new_date) if d.new_date else "?"
        print(f"[{d.scheme}] {d.field} ({d.kind})\n"
              f"    avant ({old_day}, {d.old_document}) : {d.old_value or '—'}\n"
              f"    après ({new_day}, {d.new_document}) : {d.new_value or '—'}")
    return 0


@contextlib.contextmanager
def llm_endpoint(settings: Any) -> Iterator[str | None]:
    """Base URL of the LLM for one command: the configured server, or an embedded llama.cpp child."""
    llm = getattr(settings, "llm", None)
    backend = getattr(llm, "backend", "extractive")
    if backend == "openai":
        yield str(getattr(llm, "base_url", ""))
        return
    if backend != "embedded":
        yield None
        return
    from voicebot import models
    from voicebot.llm.server import EmbeddedLlamaServer

    resolved = models.resolve("llm", settings)
    server = EmbeddedLlamaServer(resolved.local_path, n_ctx=max(2048, int(getattr(llm, "embedded_ctx", 2048))),
                                 n_threads=int(getattr(llm, "embedded_threads", 2)))
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


def _llm_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = []
    try:
        from voicebot.models import ModelError

        errors.append(ModelError)
    except ImportError:
        pass
    try:
        from voicebot.llm.server import LLMServerError

        errors.append(LLMServerError)
    except ImportError:
        pass
    return tuple(errors) or (RuntimeError,)


def cmd_ask(args: argparse.Namespace, settings: Any) -> int:
    if not args.question.strip():
        return _error("la question est vide")
    try:
        service = _service(settings)
    except _user_errors() as exc:
        return _error(str(exc))
    backend = args.backend or service.settings.backend
    try:
        with (llm_endpoint(settings) if backend == "llm" else contextlib.nullcontext(None)) as url:
            if backend == "llm" and url:
                service.use_llm(url, getattr(getattr(settings, "llm", None), "model", "") or None)
            answer = asyncio.run(service.answer(args.question, args.date or date.today(), backend=backend))
    except _llm_errors() as exc:
        return _error(f"LLM indisponible : {exc}")
    finally:
        service.close()
    if args.json:
        print(json.dumps(answer.as_json(), ensure_ascii=False))
    else:
        print(answer.answer)
        for s in answer.sources:
            print(f"  source : {s['title']} (version {s['version']}) {s['url']}")
    return 0


def cmd_eval(args: argparse.Namespace, settings: Any) -> int:
    from voicebot.knowledge import evaluation

    try:
        items = evaluation.load(args.file)
        if getattr(args, "spoken", False):
            return _spoken_eval(args, settings, items)
        service = _service(settings)
    except _user_errors() as exc:
        return _error(str(exc))
    try:
        with (llm_endpoint(settings) if args.backend == "llm" else contextlib.nullcontext(None)) as url:
            if args.backend == "llm" and url:
                service.use_llm(url, getattr(getattr(settings, "llm", None), "model", "") or None)
            report = asyncio.run(evaluation.run(service, items, args.backend, getattr(args, "ask", None)))
    except _llm_errors() as exc:
        return _error(f"LLM indisponible : {exc}")
    finally:
        service.close()
    threshold = evaluation.calibrate(report.relevances) if args.calibrate else None
    if args.json:
        out = report.as_dict()
        if threshold:
            out["calibrated_min_relevance"] = {"threshold": threshold[0], "accuracy": threshold[1]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
        if threshold:
            print(f"  seuil proposé knowledge.min_relevance = {threshold[0]:.3f} "
                  f"(répond/refuse juste dans {threshold[1]:.1%} des cas)")
    return 0


def _spoken_eval(args: argparse.Namespace, settings: Any, items: list[Any]) -> int:
    """The questions through real calls (speech-to-text included): see benchmarks/spoken_answers.py."""
    from benchmarks import spoken_answers

    if args.limit < 1:
        return _error("--limit doit être au moins 1")
    data_dir = Path(getattr(getattr(settings, "server", None), "data_dir", "data"))
    try:
        report = spoken_answers.run(items, url=args.url, limit=args.limit, data_dir=data_dir,
                                     voice=args.voice)
    except (RuntimeError, OSError) as exc:
        return _error(str(exc))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(f"Évaluation orale sur {report['n']} questions : justes {report['spoken_accuracy']:.3f}   "
              f"refus corrects {report['correct_refusals']:.3f}   faits interdits {report['forbidden_rate']:.3f}   "
              f"mots (médiane) {report['median_spoken_words']}")
        for row in report["turns"]:
            if not row["ok"]:
                print(f"  ✗ {row['id']} entendu « {row['transcript']} » → « {row['bot'][:120]} »")
    return 0
