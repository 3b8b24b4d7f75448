"""`voicebot kb eval --spoken`: questions spoken by the Kokoro caller voice through real WebSocket calls to a
`voicebot serve` that the command starts, scored like the text evaluation (issue #10's spoken accuracy)."""

import json
from pathlib import Path

ROWS = [
    {"id": "s1", "question": "Combien coûte le passe Navigo par mois ?", "date": "2026-11-30",
     "expect_scheme": "navigo", "expect_document": "navigo-2026", "expect_facts": ["90,80 €"],
     "forbidden_facts": ["88,80 €"], "category": "paraphrase", "expect_refusal": False},
    {"id": "s2", "question": "Quelle est la capitale du Pérou ?", "date": "2026-11-30", "expect_scheme": None,
     "expect_document": None, "expect_facts": [], "forbidden_facts": [], "category": "out_of_scope",
     "expect_refusal": True},
]


def test_spoken_eval_places_calls_and_scores_them(tmp_path: Path, capsys):
    from voicebot.cli import main

    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", encoding="utf-8")
    assert main(["kb", "eval", str(questions), "--spoken", "--limit", "2", "--json",
                 "--data-dir", str(tmp_path / "data")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 2 and report["caller_voice"].startswith("Kokoro-82M")
    turns = {t["id"]: t for t in report["turns"]}
    assert all(t["connected"] for t in turns.values())
    # Whisper heard the caller (the synthetic voice's "Navigo" may come back misheard: that is what this
    # evaluation measures), and the bot's reply to that transcript is what got scored.
    heard = set(turns["s1"]["transcript"].lower().replace(",", " ").replace(".", " ").split())
    assert len(heard & {"combien", "coûte", "passe", "navigo", "par", "mois"}) >= 2, turns["s1"]
    assert turns["s1"]["bot"] and turns["s1"]["ok"] == ("90,80" in turns["s1"]["bot"])
    assert report["spoken_accuracy"] == (1.0 if turns["s1"]["ok"] else 0.0)
    assert turns["s2"]["ok"] and report["correct_refusals"] == 1.0, turns["s2"]
    assert report["forbidden_rate"] == 0.0
