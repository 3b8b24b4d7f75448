"""Scheme names as callers and speech-to-text say them; the guard's reasons (units, scheme, echo, meta)."""

import pytest

from voicebot.knowledge import figures, lexicon
from voicebot.knowledge.guard import REJECTIONS, GroundingGuard


@pytest.mark.parametrize("text,scheme", [
    ("c'est combien le pass navigo", "navigo"),
    ("le passe navigo mensuel", "navigo"),
    ("la carte Navigo annuelle", "navigo"),
    ("tépé up c'est pour qui", "tpup"),
    ("t p up plafond", "tpup"),
    ("pé aime up plafond", "pmup"),
    ("inove up le taux", "innovup"),
    ("l'imagine air pour un étudiant", "imagine-r"),
    ("imagine R pour mon fils au lycée", "imagine-r"),
    ("imagine R pour mon fils de huit ans", "imagine-r-junior"),
    ("le passe transport pour un enfant de six ans", "imagine-r-junior"),
    ("équi tables c'est quoi", "equitables"),
    ("le prêt rebond", "pret-rebond"),
    ("un VAE", "velo"),
    ("l'a m i pour les boursiers elle donne combien", "amie"),
    ("l'aide pour le permis voiture c'est pour moi", "permis-b"),
    ("une conciliation avec mes créanciers, la région paie les frais ?", "backup"),
])
def test_scheme_names_as_spoken(text, scheme):
    assert lexicon.best_scheme(text) == scheme


@pytest.mark.parametrize("text", [
    "je cherche un club de sport pour ma fille",
    "combien coûte un permis de construire",
    "quel temps fera-t-il demain",
    "je voudrais un prêt immobilier",
    "mon ami a une question",
])
def test_near_misses_name_no_scheme(text):
    assert lexicon.best_scheme(text, 0.9) is None


def test_rewrite_expands_familiar_words_and_drops_hesitations():
    q = lexicon.rewrite("euh mon patron il doit me rembourser mon ordi ?")
    assert "employeur" in q and "ordinateur" in q


@pytest.mark.parametrize("text,facet", [
    ("c'est combien", "price"), ("jusqu'à quand je peux demander", "dates"),
    ("c'est quoi le numéro", "contact"), ("qui a droit", "conditions"),
    # "may I?" is a condition, "how much?" a price, "how do I?" a procedure
    ("je suis en c e j je peux avoir l'aide pour le permis", "conditions"),
    ("le pass sport c'est possible pour moi", "conditions"),
    ("je peux avoir combien pour le permis", "price"),
    ("comment je peux demander le prêt rebond", "apply"),
])
def test_facets(text, facet):
    assert lexicon.facet(text) == facet


def test_units_are_part_of_a_figure():
    assert ("n:80", "%") in figures.unit_keys("80 % du montant du prêt")
    assert ("n:80", "€") in figures.unit_keys("80 euros")
    assert not figures.supported(("n:80", "€"), figures.unit_keys("80 % du prêt (70 % auparavant)"))
    assert figures.supported(("n:80", ""), figures.unit_keys("80 % du prêt"))
    assert figures.keys("1 300 €") == {"n:1300"}  # the keys used by the version diff are unchanged


PASSAGE = ("Fonds de garantie — Plafond de garantie : 80 % du montant du prêt (70 % auparavant). "
           "Démarche : la banque de l'entreprise demande la garantie à Bpifrance.")


def _rejections(reason):
    return REJECTIONS.labels(reason=reason)._value.get()


@pytest.mark.parametrize("sentence,reason", [
    ("La garantie couvre 80 euros du prêt.", "unit"),
    ("La garantie couvre 90 % du prêt.", "figure"),
    ("La question de l'appelant est « le fonds de garantie couvre combien ? »", "meta"),
    ("Le fonds de garantie couvre combien du prêt ?", "echo"),
    ("Le passe Navigo couvre le prêt de l'entreprise.", "scheme"),
    ("Les chats dorment volontiers au soleil du matin.", "support"),
])
def test_guard_rejects_with_a_reason_and_counts_it(sentence, reason):
    guard = GroundingGuard([PASSAGE], question="le fonds de garantie couvre combien du prêt ?",
                           schemes={"fonds-garantie"})
    before = _rejections(reason)
    verdict = guard.check(sentence)
    assert not verdict.ok and verdict.reason == reason
    assert _rejections(reason) == before + 1


def test_guard_passes_a_supported_answer():
    guard = GroundingGuard([PASSAGE], question="le fonds de garantie couvre combien ?", schemes={"fonds-garantie"})
    verdict = guard.check("La garantie couvre 80 % du montant du prêt.")
    assert verdict.ok and verdict.reason is None


@pytest.mark.parametrize("text,scheme", [
    ("ma fille passe en seconde pro à la rentrée elle aura un ordi", "ordinateur-seconde"),  # a lycéenne
    ("ma fille de huit ans prend le bus, il lui faut un abonnement", "imagine-r-junior"),
])
def test_a_school_level_says_more_than_the_word_for_a_child(text, scheme):
    assert lexicon.best_scheme(text, 0.8) == scheme


def test_places_of_the_region_are_not_topics_but_places_elsewhere_and_companion_words_are():
    from voicebot.knowledge.extractive import content_words

    assert content_words("un ticket pour Marne-la-Vallée ou Créteil") == ["ticket", "pour"]
    assert "lyon" in content_words("un billet pour Lyon")
    # "voiture" names the permis only beside "permis": alone it is a topic the base may lack.
    assert "voiture" not in lexicon.alias_words() and "permis" in lexicon.alias_words()
