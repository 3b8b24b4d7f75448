"""Dialogue set check: each dialogue of a JSONL file through the same logic as `voicebot chat`.

Usage: python -m benchmarks.dialogues benchmarks/data/dev_dialogues.jsonl [--data-dir DIR] [--date D]
Prints a JSON report: per turn the expected and actual action, facts and scheme, and the pass rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

from voicebot.knowledge.evaluation import has_fact


async def check(service: Any, dialogues: list[dict[str, Any]], on_date: date) -> dict[str, Any]:
    from voicebot.dialogue.cli import run_turn
    from voicebot.dialogue.manager import DialogueManager
    from voicebot.knowledge.voice import KnowledgeAnswerer

    results, turns_ok, turns_n, dialogues_ok = [], 0, 0, 0
    for d in dialogues:
        manager = DialogueManager(KnowledgeAnswerer(service, "extractive", on_date=on_date), [])
        rows, all_ok = [], True
        for t in d["turns"]:
            got = await run_turn(manager, t["caller"])
            scheme = next((s.get("scheme") for s in got["sources"] if s.get("scheme")), None)
            ok = got["action"] == t["expect_action"]
            ok &= all(has_fact(got["speech"], f) or has_fact(got["answer"], f) for f in t.get("expect_facts", []))
            ok &= not any(has_fact(got["speech"], f) for f in t.get("forbidden_facts", []))
            ok &= not t.get("expect_scheme") or scheme == t["expect_scheme"]
            if t.get("expect_refusal"):
                ok &= "pas cette information" in got["speech"]
            rows.append({**t, "got_action": got["action"], "got_scheme": scheme, "speech": got["speech"], "ok": ok})
            turns_ok += ok
            turns_n += 1
            all_ok &= ok
        dialogues_ok += all_ok
        results.append({"id": d["id"], "what": d.get("what", ""), "ok": all_ok, "turns": rows})
    return {"dialogues": len(dialogues), "dialogues_passed": dialogues_ok, "turns": turns_n,
            "turns_passed": turns_ok, "results": results}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("file", type=Path)
    p.add_argument("--data-dir", default="data")
    p.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 30))
    args = p.parse_args()
    from voicebot.config import load_settings
    from voicebot.knowledge.service import KnowledgeService

    service = KnowledgeService.from_settings(load_settings(None, {"server.data_dir": args.data_dir}))
    dialogues = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        report = asyncio.run(check(service, dialogues, args.date))
    finally:
        service.close()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["dialogues_passed"] == report["dialogues"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
