"""Caller intents as tables: transfer requests vs mentions of people, goodbye, yes/no, repeat."""

import pytest

from voicebot.dialogue.intents import asks_for_human, classify

TRANSFER_YES = [
    "je voudrais parler à un conseiller",
    "je voudrais parler à un conseiller s'il vous plaît",
    "passez-moi quelqu'un de chez vous",
    "un conseiller s'il vous plaît",
    "conseiller",
    "euh un humain",
    "je veux parler à une vraie personne",
    "vous pouvez me mettre en relation avec un agent",
    "est-ce que je peux avoir un opérateur",
    "mettez-moi en relation avec le standard",
    "j'ai besoin d'un conseiller",
]
TRANSFER_NO = [
    "le conseiller général m'a dit que la région aidait pour le permis",
    "mon agent immobilier dit que je peux avoir une aide pour le vélo",
    "quelqu'un m'a dit que le pass sport c'était soixante-dix euros",
    "ma conseillère de la mission locale m'a parlé de l'aide au permis",
    "un agent de la RATP m'a dit de vous appeler",
    "je voudrais savoir si une personne au RSA a droit à la gratuité",
    "le conseiller m'a expliqué que je devais faire une demande",
    "c'est combien le passe navigo",
    "la conseillère d'orientation parle de la bourse",
    "est-ce qu'un agent immobilier peut avoir le chèque numérique",
]


@pytest.mark.parametrize("text", TRANSFER_YES)
def test_requests_for_a_person_transfer(text):
    assert asks_for_human(text) and classify(text) == "transfer"


@pytest.mark.parametrize("text", TRANSFER_NO)
def test_mentions_of_people_do_not_transfer(text):
    assert not asks_for_human(text) and classify(text) != "transfer"


@pytest.mark.parametrize("text,offered,intent", [
    ("merci beaucoup au revoir", False, "goodbye"),
    ("non c'est tout merci, bonne journée", True, "goodbye"),
    ("merci, bonne journée", False, "goodbye"),
    ("au revoir", False, "goodbye"),
    ("merci, et pour un enfant ?", False, "question"),
    ("oui", True, "yes"),
    ("oui je veux bien", True, "yes"),
    ("d'accord volontiers", True, "yes"),
    ("oui", False, "question"),
    ("non merci", True, "no"),
    ("non ça ira", True, "no"),
    ("pas du tout", True, "no"),
    ("non, surtout pas", True, "no"),
    # as telephone-band Whisper writes short replies (benchmarks/stt_short_replies.py)
    ("No mercy.", True, "no"),
    ("Oui, silvoupla.", True, "yes"),
    ("Toute affaire !", True, "yes"),
    ("Pas de tout.", True, "no"),
    ("d'accords merci", True, "yes"),
    ("No Saïha", True, "no"),
    ("il y a no limit pour le pass navigo ?", True, "question"),
    ("une toute affaire de famille, la bourse est-elle cumulable ?", True, "question"),
    ("pardon vous pouvez répéter ?", False, "repeat"),
    ("j'ai pas compris", False, "repeat"),
    ("comment ?", False, "repeat"),
    ("comment on fait la demande d'aide au permis", False, "question"),
    ("", False, "empty"),
    ("oui, et c'est combien pour un étudiant ?", True, "question"),
])
def test_intents(text, offered, intent):
    assert classify(text, offered=offered) == intent


@pytest.mark.parametrize("text,question", [
    ("le conseiller général m'a dit que la région aidait pour le permis", "la région aidait pour le permis"),
    ("quelqu'un m'a dit que le pass sport c'était 70 euros", "le pass sport c'était 70 euros"),
    ("c'est combien le passe navigo", "c'est combien le passe navigo"),
])
def test_reported_speech_is_not_part_of_the_question(text, question):
    from voicebot.dialogue.intents import strip_reported

    assert strip_reported(text) == question
