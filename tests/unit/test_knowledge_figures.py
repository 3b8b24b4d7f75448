"""Figure normalisation and the grounding guard (pure logic)."""

from voicebot.knowledge.figures import keys, mask
from voicebot.knowledge.guard import GroundingGuard
from voicebot.french.phrases import SYSTEM_PROMPT


def test_amount_spellings_normalise_to_one_key():
    assert keys("1 300 €") == keys("1300 euros") == keys("1.300 €") == keys("mille trois cents euros") == {"n:1300"}
    assert keys("90,80 €") == {"n:90.8"}
    assert keys("20 M€") == keys("20 millions d'euros") == {"n:20000000"}


def test_dates_phones_and_rates():
    assert {"d:2021-03-01", "d:2021-03", "n:2021"} <= keys("depuis le 1er mars 2021")
    assert "d:2021-03-01" in keys("le 01/03/2021") and "d:2021-03-01" in keys("le 2021-03-01")
    assert keys("appelez le 0800 948 999, c'est gratuit") == {"tel:0800948999"}
    assert keys("09.69.39.55.55") == {"tel:0969395555"}
    assert keys("une réduction de 75 %") == {"n:75"}
    assert keys("quatre-vingt-dix") == {"n:90"}


def test_mask_hides_values_but_keeps_words():
    assert mask("plafonnée à 500 €.") == mask("plafonnée à 400 €.")
    assert mask("plafonnée à 500 €.") != mask("versée à 400 €.")


PASSAGES = ["Aide au permis — Montant\n- Montant maximal : l'aide peut atteindre 1 300 € par jeune.\n"
            "- Téléphone : 0800 948 999, du lundi au vendredi de 8 h à 19 h, depuis le 1er mars 2021."]


def test_guard_accepts_figures_present_in_passages():
    guard = GroundingGuard(PASSAGES)
    assert guard.check("L'aide peut atteindre 1300 euros par jeune.").ok
    assert guard.check("Appelez le 08 00 94 89 99 depuis le 1er mars 2021.").ok


def test_guard_rejects_a_fabricated_figure():
    guard = GroundingGuard(PASSAGES)
    verdict = guard.check("L'aide peut atteindre 2 000 € par jeune.")
    assert not verdict.ok and verdict.unsupported == ["2 000"]
    assert not guard.check("Le permis est aidé à 50 % par la Région.").ok
    assert not guard.check("Appelez le 01 23 45 67 89 pour l'aide au permis.").ok
    assert not guard.check("L'aide au permis existe depuis le 3 janvier 2019.").ok


def test_guard_rejects_prompt_leak_and_unsupported_prose():
    guard = GroundingGuard(PASSAGES, SYSTEM_PROMPT)
    leak = SYSTEM_PROMPT.splitlines()[2]
    assert guard.check(leak).leaked_prompt
    off_topic = guard.check("Les pirates naviguent sur la mer des Caraïbes avec leurs perroquets.")
    assert not off_topic.ok and off_topic.support < 0.5
