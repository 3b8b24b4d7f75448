"""Why the extractive answerer refuses: counts by reason for each question set, in and out of scope.

Usage: python -m benchmarks.refusal_reasons benchmarks/data/dev4_questions.jsonl [...] [--data-dir DIR] [--json OUT]

Counts only, never the questions: a held-apart set (dev4) can be measured without its failures being read.
Follow-up questions (with a `context`) are left out: their scheme comes from the conversation.
Reasons, in the order the answerer applies them:
- `answered`: the passages were judged relevant;
- `named_off_topic`: the caller named a scheme, but asked about a problem no document mentions;
- `unknown_words`: relevant enough, but a content word of the question is in no document nor the lexicon;
- `foreign`: relevant enough, but a subject or field the scheme's documents never mention;
- `low_relevance`: the best passages scored under `knowledge.min_relevance`.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any


def reason(answerer: Any, question: str, on_date: date) -> str:
    """The answerer's own verdict on one question: "answered", or what refused it (``Retrieved.refused_by``)."""
    return answerer.retrieve(question, on_date).refused_by or "answered"


def count(answerer: Any, items: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {"in_scope": Counter(), "out_of_scope": Counter()}
    for d in items:
        if d.get("context"):
            continue
        on = date.fromisoformat(d.get("date") or "2026-11-30")
        out["out_of_scope" if d.get("expect_refusal") else "in_scope"][reason(answerer, d["question"], on)] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", type=Path, nargs="+")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--json", type=Path, help="also write the counts here")
    args = p.parse_args()
    from voicebot.config import load_settings
    from voicebot.knowledge.service import KnowledgeService

    service = KnowledgeService.from_settings(load_settings(None, {"server.data_dir": args.data_dir}))
    answerer = service.answerer("extractive")
    report = {}
    for f in args.files:
        items = [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        report[f.stem] = count(answerer, items)
        print(f.stem, json.dumps(report[f.stem], ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
