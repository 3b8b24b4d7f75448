"""`voicebot chat --json` with the dossier status flow, against the real sample back-office (own process)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from backoffice_support import REPO, SampleBackoffice

DISCLOSURE = re.compile(r"instruction|permis de conduire|payé|versé|manquant|justificatif|domicile|novembre|"
                        r"euros?|€", re.I)


def chat(lines: list[str], data_dir, backoffice_url: str) -> list[dict]:
    env = dict(os.environ, VOICEBOT_BACKOFFICE__BASE_URL=backoffice_url, VOICEBOT_BACKOFFICE__TIMEOUT_S="10",
               VOICEBOT_BACKOFFICE__RETRIES="0")
    out = subprocess.run([sys.executable, "-m", "voicebot", "chat", "--json", "--backend", "extractive",
                          "--data-dir", str(data_dir)], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, timeout=600, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("chat-data")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    with SampleBackoffice(tmp_path_factory.mktemp("bo")) as s:
        yield s


def test_status_request_number_verification_then_status(sample, data_dir):
    turns = chat(["Bonjour, où en est mon dossier ?",
                  "I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois",
                  "oui c'est ça",
                  "quatre-vingt-treize deux cents"], data_dir, sample.url)
    assert len(turns) == 4
    asked, read_back, verify, status = turns
    assert "numéro" in asked["speech"] and asked["action"] == "clarify"
    assert "zéro zéro zéro un deux trois" in read_back["speech"]
    assert "code postal" in verify["speech"]
    for t in (asked, read_back, verify):
        assert not DISCLOSURE.search(t["speech"] + t["answer"]), t
    assert "en cours d'instruction" in status["speech"] and "justificatif de domicile" in status["speech"]
    assert status["answer"].startswith("Votre dossier aide au permis de conduire est en cours d'instruction")
    lookup = [s for s in status["sources"] if s.get("flow") == "dossier_status"]
    assert lookup and lookup[0]["outcome"] == "found" and lookup[0]["dossier"] == "IDF-2025-••••23"
    assert "000123" not in json.dumps(turns, ensure_ascii=False).replace("zéro zéro zéro un deux trois", "")


def test_wrong_postcode_discloses_nothing(sample, data_dir):
    turns = chat(["je voudrais savoir où en est mon dossier", "IDF 2025 000 123", "oui", "soixante-quinze zéro onze"],
                 data_dir, sample.url)
    last = turns[-1]
    assert "ne correspond pas" in last["speech"]
    for t in turns:
        assert not DISCLOSURE.search(t["speech"] + t["answer"]), t


def test_back_office_stopped_apology_and_transfer_offer(tmp_path, data_dir):
    with SampleBackoffice(tmp_path) as s:
        url = s.url
    turns = chat(["où en est ma demande de chèque numérique", "2025 000 456", "oui", "75011", "oui"], data_dir, url)
    offer, transfer = turns[-2], turns[-1]
    assert "Désolé" in offer["speech"] and "conseiller" in offer["speech"] and "rappeler" in offer["speech"]
    assert not DISCLOSURE.search(offer["speech"])
    assert transfer["action"] == "transfer"
