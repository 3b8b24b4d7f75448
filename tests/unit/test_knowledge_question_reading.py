"""How a caller's question is read before an answer is picked: elided names, the scheme's name left out
of the picking query, social aid → reduced fares, what kind of figure is asked, question words."""

import pytest

from voicebot.knowledge import lexicon
from voicebot.knowledge.extractive import _intent_bonus, matches, stem_keys


@pytest.mark.parametrize("text,scheme", [
    ("l'aide au permis c'est jusqu'à quel âge", "permis-b"),
    ("je suis en CEJ, j'ai droit à l'aide au permis ?", "permis-b"),
    ("les horaires de l'agence solidarité transport", "solidarite-transport"),
    ("le montant d'innov'up", "innovup"),
    ("c'est quoi le prêt d'honneur", "pret-honneur"),
])
def test_a_name_after_an_elided_article_is_named_exactly(text, scheme):
    found = lexicon.detect_schemes(text)
    assert found and found[0][0] == scheme and found[0][1] >= 0.95


@pytest.mark.parametrize("text", ["aujourd'hui c'est combien", "qu'est-ce que vous faites", "l'agent immobilier"])
def test_elision_does_not_invent_a_name(text):
    assert lexicon.best_scheme(text, 0.9) is None


@pytest.mark.parametrize("question,gone,kept", [
    ("les frais de dossier de la carte imagine R c'est combien", ["imagine", "carte"], ["frais", "dossier"]),
    ("on peut mettre la réduction solidarité sur un passe annuel ?", ["solidarite", "reduction"], ["annuel"]),
    ("le ticket de bus c'est combien", [], ["ticket", "bus"]),  # says which ticket: kept
    ("le vélo cargo électrique", [], ["cargo", "electrique"]),
])
def test_picking_query_leaves_out_only_the_name(question, gone, kept):
    words = lexicon.strip_names(question).replace("'", " ").split()
    assert not [w for w in gone if w in words] and all(w in words for w in kept)


@pytest.mark.parametrize("text,scheme", [
    ("euh je touche l'ASS, c'est quoi la réduction sur le navigo", "solidarite-transport"),
    ("je suis au RSA, le ticket de métro est moins cher ?", "solidarite-transport"),
    ("j'ai la CSS, les transports sont gratuits ?", "solidarite-transport"),
])
def test_social_aid_and_fares_is_solidarite_transport(text, scheme):
    assert lexicon.best_scheme(text) == scheme


@pytest.mark.parametrize("text,scheme", [
    ("le navigo au mois c'est combien", "navigo"),  # no social aid named
    ("le ticket de bus c'est combien", "navigo"),
])
def test_social_aid_rule_needs_an_aid_word(text, scheme):
    assert lexicon.best_scheme(text) == scheme


def test_social_aid_without_fares_names_no_scheme():
    assert lexicon.best_scheme("quel est le montant du RSA pour une personne seule", 0.8) is None


@pytest.mark.parametrize("text,facet", [
    ("la région elle aide pour passer le permis ?", "price"),  # "does it help": the amount answers
    ("la région donne une prime ?", "price"),
    ("les frais de dossier c'est combien", "price"),  # "dossier" alone is not a how-to-apply question
    ("comment faire mon dossier", "apply"),
    ("l'aide vélo c'est quel pourcentage", "price"),
    ("l'aide au permis c'est jusqu'à quel âge", "conditions"),
    ("on m'a parlé du vélo", None),
])
def test_facet_of_spoken_questions(text, facet):
    assert lexicon.facet(text) == facet


@pytest.mark.parametrize("word,is_question", [
    ("pourcentage", True), ("delai", True), ("combien", True), ("montant", True),
    ("portiques", False), ("demagnetise", False), ("commerce", False),
])
def test_question_words_are_not_topics(word, is_question):
    assert lexicon.is_question_word(word) is is_question


@pytest.mark.parametrize("question,right,wrong", [
    ("l'aide vélo c'est quel pourcentage du prix", "Taux : l'aide couvre 50 % du prix d'achat TTC.",
     "Vélo cargo électrique : l'aide est plafonnée à 600 €."),
    ("combien de salariés au maximum pour le chèque numérique", "Taille : moins de 20 salariés.",
     "Plafond : 1 500 € au maximum, à partir de 3 000 € HT de dépenses."),
    ("c'est combien l'imagine air pour un étudiant", "Prix annuel : le forfait coûte 384,30 € par an.",
     "Étudiants : étudiants du supérieur et apprentis, avec la formule Étudiant."),
    ("jusqu'à quel âge on a droit au permis", "Âge : de 18 à 25 ans.",
     "Montant maximal : l'aide peut atteindre 1 300 € par jeune."),
    # "combien la réduction": a rate answers as well as an amount; a duration in months does not
    ("c'est combien la réduction sur le forfait mois", "Réduction : 75 % sur le forfait.",
     "Durée des droits : de 1 à 12 mois, renouvelables."),
])
def test_the_kind_of_figure_asked_is_favoured(question, right, wrong):
    assert _intent_bonus(question, right) > _intent_bonus(question, wrong)


def test_five_letter_prefix_matches_word_families():
    keys = stem_keys(["revent", "cumul"])
    assert matches("revend", keys) and matches("cumul", keys)
    assert not matches("portiq", keys) and not matches("rev", keys)


@pytest.mark.parametrize("question,sentence,reply", [
    ("l'aide au permis c'est 2 000 euros c'est ça ?", "Montant maximal : l'aide peut atteindre 1 300 € par jeune.",
     "Non. "),
    ("l'aide au permis c'est bien mille trois cents euros ?", "Montant maximal : l'aide peut atteindre 1 300 €.",
     "Oui. "),
    ("l'aide vélo c'est 80 % du prix ?", "Taux : l'aide couvre 50 % du prix d'achat TTC.", "Non. "),
    ("l'aide vélo c'est 50 euros ?", "Taux : l'aide couvre 50 % du prix d'achat TTC.", ""),  # no amount to compare
    ("imagine R junior pour un enfant de 5 ans", "Prix annuel : 16,80 € par an.", ""),  # an age is no premise
    ("c'est combien le navigo", "Navigo Mois : 90,80 €.", ""),
])
def test_a_stated_figure_is_confirmed_or_corrected(question, sentence, reply):
    from voicebot.knowledge.extractive import premise_reply

    assert premise_reply(question, sentence) == reply


@pytest.mark.parametrize("text,facet", [
    ("la région aidait pour le permis", "price"),  # any form of "aider"
    ("on m'a dit que la région aidera pour le vélo", "price"),
])
def test_help_verbs_in_any_tense_ask_the_amount(text, facet):
    assert lexicon.facet(text) == facet
