from voicebot.calls.alerts import AlertDetector
from voicebot.calls.cli import parse_age
from voicebot.events import CallEvent
from voicebot.monitor.auth import LoginLimiter

import pytest


def kinds(det, type_, **data):
    return [k for k, _ in det.feed(CallEvent("c", type_, data))]


def test_alerts_once_each():
    det = AlertDetector(long_silence_s=8.0, anger_words=["inadmissible", "énervé"])
    assert kinds(det, "transcript_final", text="Je voudrais parler à un conseiller s'il vous plaît") == ["person_requested"]
    assert kinds(det, "transcript_final", text="Passez-moi un humain") == []  # raised once only
    assert kinds(det, "transcript_final", text="C'est INADMISSIBLE, je suis enerve") == ["anger"]
    assert kinds(det, "silence", seconds=3.0) == []
    assert kinds(det, "silence", seconds=9.5) == ["long_silence"]
    assert kinds(det, "turn", guard="no_answer", bot_text="…") == []
    assert kinds(det, "turn", guard="ok", bot_text="Désolé, je n'ai pas compris.") == ["not_understood"]


def test_ordinary_speech_raises_nothing():
    det = AlertDetector(anger_words=["scandale"])
    for text in ["Quels sont les horaires du lycée ?", "Je cherche une personne à l'accueil de la mairie"]:
        assert kinds(det, "transcript_final", text=text) == []
    assert kinds(det, "turn", guard="ok", bot_text="Le lycée ouvre à 8 h.") == []


@pytest.mark.parametrize("text,seconds", [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("7", 7 * 86400),
                                          ("2w", 14 * 86400)])
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


def test_parse_age_rejects_garbage():
    with pytest.raises(ValueError, match="invalid age 'trente'"):
        parse_age("trente")


def test_login_limiter_window():
    lim = LoginLimiter(max_failures=3, window_s=60)
    for i in range(3):
        assert lim.retry_after("1.2.3.4", "sup", now=100 + i) == 0
        lim.failed("1.2.3.4", "sup", now=100 + i)
    assert 55 < lim.retry_after("1.2.3.4", "sup", now=103) <= 60
    assert lim.retry_after("1.2.3.4", "agent", now=103) == 0  # other user from same address still allowed
    assert lim.retry_after("1.2.3.4", "sup", now=161) == 0  # window passed
