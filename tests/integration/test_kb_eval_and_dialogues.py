"""`voicebot kb eval` on a tiny question set, and the dialogue-set checker (benchmarks/dialogues.py),
on the real sample base: both score right answers as right and wrong ones as wrong."""

import asyncio
import json
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from knowledge_support import build_sample_service  # noqa: E402

ROWS = [
    {"id": "a", "question": "c'est combien le passe navigo par mois", "date": "2026-11-30",
     "expect_scheme": "navigo", "expect_document": "navigo-2026", "expect_facts": ["90,80 €"],
     "forbidden_facts": ["88,80 €"], "category": "familiar", "expect_refusal": False},
    {"id": "b", "question": "et à l'année ?", "date": "2026-11-30", "context": ["le navigo au mois c'est combien"],
     "expect_scheme": "navigo", "expect_document": "navigo-2026", "expect_facts": ["998,80 €"],
     "forbidden_facts": [], "category": "follow_up", "expect_refusal": False},
    {"id": "c", "question": "quelle est la capitale du Pérou", "date": "2026-11-30", "expect_scheme": None,
     "expect_document": None, "expect_facts": [], "forbidden_facts": [], "category": "out_of_scope",
     "expect_refusal": True},
    {"id": "d", "question": "c'est combien le passe navigo par mois", "date": "2026-11-30",
     "expect_scheme": "navigo", "expect_document": "navigo-2026", "expect_facts": ["12,34 €"],
     "forbidden_facts": [], "category": "familiar", "expect_refusal": False},  # a fact the base lacks: scored wrong
]


def test_kb_eval_json_scores_a_tiny_set(tmp_path: Path, capsys):
    from voicebot.cli import main

    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", encoding="utf-8")
    assert main(["kb", "eval", str(questions), "--backend", "extractive", "--json",
                 "--data-dir", str(tmp_path / "data")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["backend"] == "extractive"
    assert report["fact_accuracy"] == pytest.approx(2 / 3)  # a and b right (b through the dialogue), d wrong
    assert report["correct_refusals"] == 1.0 and report["forbidden_rate"] == 0.0
    assert [f["id"] for f in report["failures"]] == ["d"]
    assert 0 < report["median_spoken_words"] <= 25


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = build_sample_service(tmp_path_factory.mktemp("kb"))
    yield svc
    svc.close()


def test_dialogue_checker_passes_right_and_fails_wrong(service):
    from benchmarks.dialogues import check

    dialogues = [
        {"id": "ok", "turns": [
            {"caller": "combien coûte imagine R pour un lycéen", "expect_action": "answer",
             "expect_scheme": "imagine-r", "expect_facts": ["384,30 €"]},
            {"caller": "et pour un enfant de six ans ?", "expect_action": "answer",
             "expect_scheme": "imagine-r-junior", "expect_facts": ["16,80 €"]},
            {"caller": "merci au revoir", "expect_action": "hangup"}]},
        {"id": "wrong", "turns": [  # expects a transfer where the caller only mentions someone
            {"caller": "mon agent immobilier dit que je peux avoir une aide pour le vélo électrique",
             "expect_action": "transfer"}]},
    ]
    report = asyncio.run(check(service, dialogues, date(2026, 11, 30)))
    assert (report["dialogues"], report["dialogues_passed"], report["turns"], report["turns_passed"]) == (2, 1, 4, 3)
    wrong = report["results"][1]
    assert not wrong["ok"] and wrong["turns"][0]["got_action"] == "answer"
