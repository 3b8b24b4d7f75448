"""French text normalisation for TTS and streaming cut points (voicebot.french.speech)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot.french.speech import split_speakable, to_speech

NNBSP = "\u202f"  # narrow no-break space, what French typography puts in "1 300 €"
NBSP = "\u00a0"

TO_SPEECH_CASES = [
    # --- amounts in euros
    ("1 300 €", "mille trois cents euros"),
    ("1300€", "mille trois cents euros"),
    (f"1{NNBSP}300{NNBSP}€", "mille trois cents euros"),
    (f"1{NBSP}300 €", "mille trois cents euros"),
    ("1.300 €", "mille trois cents euros"),
    ("86,40 €", "quatre-vingt-six euros quarante"),
    ("2,55 €", "deux euros cinquante-cinq"),
    ("2,5 €", "deux euros cinquante"),
    ("1 300,50 €", "mille trois cents euros cinquante"),
    ("1 €", "un euro"),
    ("1,99 €", "un euro quatre-vingt-dix-neuf"),
    ("0,50 €", "cinquante centimes"),
    ("0,01 €", "un centime"),
    ("2,04 €", "deux euros quatre"),
    ("21 €", "vingt et un euros"),
    ("80 €", "quatre-vingts euros"),
    ("15 000 euros", "quinze mille euros"),
    ("1 euro", "un euro"),
    ("€ 20", "vingt euros"),
    ("EUR 20", "vingt euros"),
    ("2,5 M€", "deux virgule cinq millions d'euros"),
    ("1,5 M€", "un virgule cinq million d'euros"),
    ("3 Md€", "trois milliards d'euros"),
    ("15 k€", "quinze mille euros"),
    ("1,5 k€", "mille cinq cents euros"),
    ("1 000 000 €", "un million d'euros"),
    ("2 000 000 €", "deux millions d'euros"),
    ("2,5 millions d'euros", "deux virgule cinq millions d'euros"),
    ("+2,30 €", "plus deux euros trente"),
    ("20 €/mois", "vingt euros par mois"),
    ("0,125 €", "zéro virgule cent vingt-cinq euro"),
    # --- decimals and thousands separators
    ("2,55", "deux virgule cinquante-cinq"),
    ("2,05", "deux virgule zéro cinq"),
    ("2,0", "deux virgule zéro"),
    ("3,14159", "trois virgule un quatre un cinq neuf"),
    ("entre 10 000 et 20 000", "entre dix mille et vingt mille"),
    (f"60{NNBSP}000 jeunes", "soixante mille jeunes"),
    ("1.000.000 habitants", "un million d'habitants"),
    ("1 million de personnes", "un million de personnes"),
    # --- percentages
    ("2,3 %", "deux virgule trois pour cent"),
    ("11.8%", "onze virgule huit pour cent"),
    ("50 %", "cinquante pour cent"),
    ("−75 %", "moins soixante-quinze pour cent"),
    ("(+2,8 %)", "(plus deux virgule huit pour cent)"),
    ("5 ‰", "cinq pour mille"),
    # --- dates and years
    ("01/03/2021", "premier mars deux mille vingt et un"),
    ("10/12/2025", "dix décembre deux mille vingt-cinq"),
    ("27/11/2025", "vingt-sept novembre deux mille vingt-cinq"),
    ("1er mars 2021", "premier mars deux mille vingt et un"),
    ("2025-01-01", "premier janvier deux mille vingt-cinq"),
    ("le 15/08", "le quinze août"),
    ("en 2026", "en deux mille vingt-six"),
    ("en 1998", "en mille neuf cent quatre-vingt-dix-huit"),
    ("32/13/2021", "trente-deux sur treize sur deux mille vingt et un"),
    ("Le XXIe siècle", "Le vingt et unième siècle"),
    ("(2021-10)", "(octobre deux mille vingt et un)"),
    ("En 2017-2018, l'aide", "En deux mille dix-sept à deux mille dix-huit, l'aide"),
    # --- ordinals
    ("1er", "premier"),
    ("1re", "première"),
    ("1ère fois", "première fois"),
    ("2e", "deuxième"),
    ("3ème", "troisième"),
    ("2nd", "second"),
    ("21e", "vingt et unième"),
    ("École de la 2e chance", "École de la deuxième chance"),
    # --- phone numbers
    ("01 53 85 53 85", "zéro un, cinquante-trois, quatre-vingt-cinq, cinquante-trois, quatre-vingt-cinq"),
    ("0153855385", "zéro un, cinquante-trois, quatre-vingt-cinq, cinquante-trois, quatre-vingt-cinq"),
    ("01.53.85.53.85", "zéro un, cinquante-trois, quatre-vingt-cinq, cinquante-trois, quatre-vingt-cinq"),
    ("06-00-10-20-30", "zéro six, zéro zéro, dix, vingt, trente"),
    (
        "+33 1 53 85 53 85",
        "plus trente-trois, un, cinquante-trois, quatre-vingt-cinq, cinquante-trois, quatre-vingt-cinq",
    ),
    (
        "+33 (0)1 53 85 53 85",
        "plus trente-trois, un, cinquante-trois, quatre-vingt-cinq, cinquante-trois, quatre-vingt-cinq",
    ),
    (
        "au 09 69 39 55 55, appel non surtaxé",
        "au zéro neuf, soixante-neuf, trente-neuf, cinquante-cinq, cinquante-cinq, appel non surtaxé",
    ),
    ("0 800 123 456", "zéro, huit cents, cent vingt-trois, quatre cent cinquante-six"),
    ("Appelez le 3975.", "Appelez le trente-neuf, soixante-quinze."),
    ("composez le 3975", "composez le trente-neuf, soixante-quinze"),
    ("Il y a 3975 inscrits.", "Il y a trois mille neuf cent soixante-quinze inscrits."),
    # --- times and durations
    ("9h30", "neuf heures trente"),
    ("14 h", "quatorze heures"),
    ("14h00", "quatorze heures"),
    ("9h05", "neuf heures cinq"),
    ("1h", "une heure"),
    ("21h", "vingt et une heures"),
    ("de 9 h 30 à 17 h", "de neuf heures trente à dix-sept heures"),
    ("9:30", "neuf heures trente"),
    ("ouvert 14h-18h", "ouvert quatorze heures à dix-huit heures"),
    ("9h30–12h", "neuf heures trente à douze heures"),
    ("24h/24 et 7j/7", "vingt-quatre heures sur vingt-quatre et sept jours sur sept"),
    ("1/2 heure", "une demi-heure"),
    ("30 min", "trente minutes"),
    ("après 10 heures de conduite", "après dix heures de conduite"),
    ("21 heures", "vingt et une heures"),
    ("1 personne", "une personne"),
    ("31 places", "trente et une places"),
    # --- abbreviations and symbols
    ("M. Dupont", "monsieur Dupont"),
    ("M. et Mme Dupont", "monsieur et madame Dupont"),
    ("Mme Martin", "madame Martin"),
    ("n° 12", "numéro douze"),
    ("N°5", "numéro cinq"),
    ("etc.", "et cetera."),
    ("les tickets, etc. sont", "les tickets, et cetera sont"),
    ("10 km", "dix kilomètres"),
    ("1 km", "un kilomètre"),
    ("1,5 kg", "un virgule cinq kilo"),
    ("max. 3 jours", "maximum trois jours"),
    ("env. 200 personnes", "environ deux cents personnes"),
    ("art. 3", "article trois"),
    ("Seine & Marne", "Seine et Marne"),
    ("Navigo Liberté +", "Navigo Liberté plus"),
    ("sur Navigo Liberté +. Pour", "sur Navigo Liberté plus. Pour"),
    ("IDFM", "I D F M"),
    ("QPV", "Q P V"),
    ("le RER B", "le RER B"),
    ("la CAF", "la CAF"),
    ("CSS", "C S S"),
    ("350 € TTC", "trois cent cinquante euros toutes taxes comprises"),
    ("16,40 € HT", "seize euros quarante hors taxes"),
    ("appuyez sur la touche #", "appuyez sur la touche dièse"),
    # --- markdown, emoji, URLs
    ("**Important** : lisez", "Important : lisez"),
    ("# Titre", "Titre"),
    ("- premier point\n- second point", "premier point. second point"),
    ("1. Allez sur le site\n2. Connectez-vous", "Allez sur le site. Connectez-vous"),
    ("Le `code` ici", "Le code ici"),
    ("[le site](https://example.fr/x)", "le site"),
    ("Bonjour 😀 ça va ?", "Bonjour ça va ?"),
    ("https://www.iledefrance-mobilites.fr/aide", "iledefrance tiret mobilites point fr"),
    ("sur mesdemarches.iledefrance.fr.", "sur mesdemarches point iledefrance point fr."),
    ("contact@iledefrance.fr", "contact arobase iledefrance point fr"),
    # --- plain numbers and ranges
    ("18 à 25 ans", "dix-huit à vingt-cinq ans"),
    ("de 16 à 18 ans", "de seize à dix-huit ans"),
    ("18-25 ans", "dix-huit à vingt-cinq ans"),
    ("de 1 à 3 mois", "d'un à trois mois"),
    ("1 000 000 habitants", "un million d'habitants"),
    ("3/4 des places", "trois quarts des places"),
    ("T3a et A86", "T trois a et A quatre-vingt-six"),
    ("007", "zéro zéro sept"),
    (
        "1234567890123456789",
        "un deux trois quatre cinq six sept huit neuf zéro un deux trois quatre cinq six sept huit neuf",
    ),
    ("Chapitre 1. Introduction", "Chapitre un. Introduction"),
    ("", ""),
]


@pytest.mark.parametrize(
    ("text", "expected"), TO_SPEECH_CASES, ids=[c[0][:40] or "empty" for c in TO_SPEECH_CASES]
)
def test_to_speech(text: str, expected: str) -> None:
    assert to_speech(text) == expected


def test_fact_sheet_line_reads_without_digits() -> None:
    line = (
        "2026 (1er janvier) : 90,80 €, soit +2 € (+2,3 %). Proposé le 27/11/2025 et soumis au vote "
        "du conseil d'administration d'IDFM le 10/12/2025."
    )
    spoken = to_speech(line)
    assert spoken == (
        "deux mille vingt-six (premier janvier) : quatre-vingt-dix euros quatre-vingts, soit plus deux euros "
        "(plus deux virgule trois pour cent). Proposé le vingt-sept novembre deux mille vingt-cinq et soumis "
        "au vote du conseil d'administration d'I D F M le dix décembre deux mille vingt-cinq."
    )


ALREADY_WORDS = [
    "Bonjour, je suis l'assistant vocal de la Région Île-de-France.",
    "Le forfait coûte quatre-vingt-six euros quarante par mois.",
    "Vous pouvez appeler le zéro un, cinquante-trois, quatre-vingt-cinq.",
    "L'aide s'adresse aux jeunes de dix-huit à vingt-cinq ans !",
    "Souhaitez-vous que je vous mette en relation avec un conseiller ?",
    "Le RER B passe toutes les dix minutes ; c'est noté.",
    "monsieur Dupont et madame Martin, et cetera.",
]


@pytest.mark.parametrize("text", ALREADY_WORDS)
def test_text_already_in_words_is_unchanged(text: str) -> None:
    assert to_speech(text) == text


@pytest.mark.parametrize(
    ("text", "_expected"), TO_SPEECH_CASES, ids=[c[0][:40] or "empty" for c in TO_SPEECH_CASES]
)
def test_to_speech_is_idempotent(text: str, _expected: str) -> None:
    once = to_speech(text)
    assert to_speech(once) == once
    assert not re.search(r"[0-9€%]", once)


_TRICKY_ALPHABET = list("0123456789 ,.€%/-:hMmeérnN°+&*#_\nIDFQPVabc'()kt\u202f\u00a0")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=80))
def test_arbitrary_unicode_never_crashes_and_is_stable(text: str) -> None:
    once = to_speech(text)
    assert isinstance(once, str)
    assert to_speech(once) == once
    chunks, tail = split_speakable(text, first_clause=True)
    assert all(isinstance(c, str) and c for c in chunks)
    assert text.endswith(tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(_TRICKY_ALPHABET), max_size=50))
def test_numbers_and_symbols_soup_is_stable_and_digit_free(text: str) -> None:
    once = to_speech(text)
    assert to_speech(once) == once
    assert not re.search(r"[0-9]", once)


# ---------------------------------------------------------------------------------------------------
# split_speakable
# ---------------------------------------------------------------------------------------------------

SPLIT_CASES = [
    # (buffer, first_clause, chunks, tail)
    ("Bonjour. Comment allez-vous ? Je", False, ["Bonjour.", "Comment allez-vous ?"], "Je"),
    ("Bonjour ! Je suis", False, ["Bonjour !"], "Je suis"),
    ("Attendez... Je regarde", False, ["Attendez..."], "Je regarde"),
    ("« Bonjour. » Puis", False, ["« Bonjour. »"], "Puis"),
    ("Une phrase sans fin", False, [], "Une phrase sans fin"),
    ("La date est le 1er mars 2021.", False, [], "La date est le 1er mars 2021."),
    ("", True, [], ""),
    # never inside a number, an amount, a decimal or a date
    ("Le tarif est de 1 300,50 €. Ensuite", False, ["Le tarif est de 1 300,50 €."], "Ensuite"),
    ("Le tarif est de 2,", True, [], "Le tarif est de 2,"),
    ("Le tarif est de 2,5", True, [], "Le tarif est de 2,5"),
    ("Le tarif passe de 2.", False, [], "Le tarif passe de 2."),
    ("Il a augmenté de 11.8% en 2023. Puis", False, ["Il a augmenté de 11.8% en 2023."], "Puis"),
    ("Le vote a eu lieu le 10/12/2025. Puis", False, ["Le vote a eu lieu le 10/12/2025."], "Puis"),
    ("Vote le 10.12.2025 à Paris. Puis", False, ["Vote le 10.12.2025 à Paris."], "Puis"),
    ("Il coûte 1 300, 2 000 ou 3 000 euros selon", True, ["Il coûte 1 300,"], "2 000 ou 3 000 euros selon"),
    # never after an abbreviation
    ("Voici M. Dupont qui arrive. Il", False, ["Voici M. Dupont qui arrive."], "Il"),
    ("Mme. Martin vous rappelle. Puis", False, ["Mme. Martin vous rappelle."], "Puis"),
    ("Voir l'art. 3 du règlement. Fin", False, ["Voir l'art. 3 du règlement."], "Fin"),
    ("Les pièces, etc. sont demandées. Puis", False, ["Les pièces, etc. sont demandées."], "Puis"),
    ("Apportez les pièces etc. Ensuite vous", False, ["Apportez les pièces etc."], "Ensuite vous"),
    ("Signé par J. Martin hier. Puis", False, ["Signé par J. Martin hier."], "Puis"),
    ("C'est le n. 5 de la liste. Puis", False, ["C'est le n. 5 de la liste."], "Puis"),
    # first clause
    ("Pour obtenir l'aide régionale, il faut", True, ["Pour obtenir l'aide régionale,"], "il faut"),
    ("Pour obtenir l'aide régionale, il faut", False, [], "Pour obtenir l'aide régionale, il faut"),
    ("Oui, bien sûr", True, [], "Oui, bien sûr"),
    ("Oui. Pour obtenir l'aide régionale, il faut", True, ["Oui."], "Pour obtenir l'aide régionale, il faut"),
    ("Voici les trois étapes : allez sur le site", True, ["Voici les trois étapes :"], "allez sur le site"),
    (
        "Pour la demande, il faut un justificatif, et ensuite, vous",
        True,
        ["Pour la demande, il faut un justificatif,"],
        "et ensuite, vous",
    ),
    # lines
    (
        "Voici les étapes :\n- Allez sur le site\n- Remplissez",
        False,
        ["Voici les étapes :", "- Allez sur le site"],
        "- Remplissez",
    ),
    ("**\n\nBonjour. Suite", False, ["Bonjour."], "Suite"),
]


@pytest.mark.parametrize(
    ("buffer", "first_clause", "chunks", "tail"),
    SPLIT_CASES,
    ids=[f"{c[0][:40]}|{c[1]}" for c in SPLIT_CASES],
)
def test_split_speakable(buffer: str, first_clause: bool, chunks: list[str], tail: str) -> None:
    assert split_speakable(buffer, first_clause=first_clause) == (chunks, tail)


def test_runaway_buffer_is_cut_at_a_safe_space() -> None:
    buffer = "et " * 150 + "le montant de 1 300 euros reste"
    chunks, tail = split_speakable(buffer, first_clause=False)
    assert chunks and all(len(c) <= 300 for c in chunks)
    assert " ".join([*chunks, tail]).split() == buffer.split()


def test_runaway_buffer_of_numbers_is_never_cut_inside_one() -> None:
    buffer = "1 300 " * 80
    chunks, tail = split_speakable(buffer, first_clause=False)
    assert chunks == [] and tail == buffer


STREAMED_ANSWER = (
    "Bonjour M. Dupont, l'aide au permis de conduire est de 1 300 € maximum. "
    "Le forfait Navigo Mois coûte 86,40 € depuis le 01/01/2024, soit +2,3 % etc. Ensuite, "
    "appelez le 01 53 85 53 85 entre 9h30 et 17 h. Merci !"
)


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_streaming_token_by_token_gives_the_same_sentences(step: int) -> None:
    buffer, spoken, first = "", [], True
    for i in range(0, len(STREAMED_ANSWER), step):
        buffer += STREAMED_ANSWER[i : i + step]
        chunks, buffer = split_speakable(buffer, first_clause=first)
        if chunks:
            first = False
        spoken.extend(chunks)
    spoken.append(buffer)  # end of stream: the tail is flushed
    assert spoken == [
        "Bonjour M. Dupont, l'aide au permis de conduire est de 1 300 € maximum.",
        "Le forfait Navigo Mois coûte 86,40 € depuis le 01/01/2024, soit +2,3 % etc.",
        "Ensuite, appelez le 01 53 85 53 85 entre 9h30 et 17 h.",
        "Merci !",
    ]
    assert to_speech(spoken[0]) == (
        "Bonjour monsieur Dupont, l'aide au permis de conduire est de mille trois cents euros maximum."
    )


def test_first_clause_streaming_cuts_early() -> None:
    text = "Pour obtenir l'aide régionale au permis, il faut habiter en Île-de-France. Puis"
    buffer, spoken = "", []
    for ch in text:
        buffer += ch
        chunks, buffer = split_speakable(buffer, first_clause=not spoken)
        spoken.extend(chunks)
    assert spoken == ["Pour obtenir l'aide régionale au permis,", "il faut habiter en Île-de-France."]
    assert buffer == "Puis"


@pytest.mark.parametrize(
    "text", ["9" * 5000, "9" * 5000 + ",5 k€", "9" * 5000 + " €", "9" * 5000 + "e", "0" * 5000 + " %"]
)
def test_huge_digit_runs_are_read_digit_by_digit(text: str) -> None:
    spoken = to_speech(text)
    assert not re.search(r"[0-9]", spoken)
    assert spoken.count("neuf") == 5000 or spoken.count("zéro") == 5000


def test_pathological_buffers_are_left_whole() -> None:
    assert split_speakable(" ," * 2000, first_clause=True) == ([], " ," * 2000)
    assert split_speakable("M. " * 2000, first_clause=False) == ([], "M. " * 2000)
