"""`voicebot chat --json` as a subprocess on the real sample knowledge base: the same dialogue logic as a
call (follow-ups, transfer only on request, clarification, polite goodbye)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def chat(tmp_path: Path, *lines: str, extra: tuple[str, ...] = ()) -> tuple[int, list[dict], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "voicebot", "chat", "--json", "--data-dir", str(tmp_path / "data"),
         "--date", "2026-11-30", *extra],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=600, cwd=ROOT,
    )
    turns = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, turns, proc.stderr


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chat")


def test_follow_up_then_goodbye(data_dir):
    rc, turns, err = chat(data_dir, "combien coûte imagine R pour un lycéen", "et pour un enfant de six ans ?",
                          "merci beaucoup au revoir", "cette ligne n'est plus lue")
    assert rc == 0, err
    assert [t["action"] for t in turns] == ["answer", "answer", "hangup"]
    assert set(turns[0]) == {"caller", "answer", "speech", "action", "sources"}
    assert "384,30" in turns[0]["speech"] and "16,80" not in turns[0]["speech"]
    assert "16,80" in turns[1]["speech"] and "384,30" not in turns[1]["speech"]
    assert turns[1]["sources"][0]["scheme"] == "imagine-r-junior"
    assert len(turns[0]["speech"].split()) <= 30 and not turns[0]["speech"].startswith("Forfait imagine R")


def test_mentions_are_answered_requests_transfer(data_dir):
    rc, turns, _ = chat(data_dir, "le conseiller général m'a dit que la région aidait pour le permis",
                        "je voudrais parler à un conseiller")
    assert rc == 0 and [t["action"] for t in turns] == ["answer", "transfer"]
    assert turns[0]["sources"][0]["scheme"] == "permis-b"


def test_vague_question_is_clarified(data_dir):
    rc, turns, _ = chat(data_dir, "c'est combien le forfait", "le navigo")
    assert rc == 0 and [t["action"] for t in turns] == ["clarify", "answer"]
    assert "90,80" in turns[1]["speech"] or "998,80" in turns[1]["speech"]  # the Navigo, month or year


def test_out_of_scope_is_refused_and_yes_transfers(data_dir):
    rc, turns, _ = chat(data_dir, "quel temps fera-t-il demain à Paris", "oui je veux bien")
    assert rc == 0 and [t["action"] for t in turns] == ["answer", "transfer"]
    assert "pas cette information" in turns[0]["speech"] and turns[0]["sources"] == []


def test_bad_date_is_one_precise_error(data_dir):
    rc, turns, err = chat(data_dir, "bonjour", extra=("--date", "demain"))
    assert rc == 2 and turns == [] and "date invalide" in err
