"""benchmarks/refusal_reasons.py names what made the answerer refuse, on the sample base (counts only)."""

import sys
from datetime import date
from pathlib import Path

import pytest

from benchmarks.refusal_reasons import count, reason

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from knowledge_support import build_sample_service  # noqa: E402

DAY = date(2026, 11, 30)


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    service = build_sample_service(tmp_path_factory.mktemp("kb-refusals"))
    yield service.answerer("extractive")
    service.close()


@pytest.mark.parametrize(("question", "why"), [
    ("combien coûte le passe navigo par mois", "answered"),
    ("combien coûte un ordinateur portable chez Darty", "unknown_words"),
    ("quel temps fera-t-il demain à Lyon", "low_relevance"),
])
def test_each_refusal_is_named_by_what_decided_it(answerer, question, why):
    assert reason(answerer, question, DAY) == why


def test_counts_keep_scopes_apart_and_leave_follow_ups_out(answerer):
    items = [{"question": "combien coûte le passe navigo par mois"},
             {"question": "quel temps fera-t-il demain à Lyon", "expect_refusal": True},
             {"question": "et pour un étudiant ?", "context": ["le passe navigo"]}]
    assert count(answerer, items) == {"in_scope": {"answered": 1}, "out_of_scope": {"low_relevance": 1}}
