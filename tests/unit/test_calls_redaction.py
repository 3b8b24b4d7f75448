import pytest

from voicebot.french.redaction import (CARD, CODE, EMAIL, EXPIRY, IBAN, NIR, NUMBER, PHONE, RedactingLogFilter, luhn_ok,
                                     mask_caller, redact, redact_data, redact_event_data, redact_tree)


@pytest.mark.parametrize("text,token", [
    ("mon numéro est le 06 12 34 56 78 merci", PHONE),
    ("appelez le 01.45.67.89.01", PHONE),
    ("+33 6 12 34 56 78", PHONE),
    ("+33 (0)1 45 67 89 01", PHONE),
    ("0033612345678", PHONE),
    ("0612345678", PHONE),
    ("écrivez à jean.dupont@example.fr svp", EMAIL),
    ("jean point dupont arobase gmail point com", EMAIL),
    ("IBAN FR76 3000 6000 0112 3456 7890 189 merci", IBAN),
    ("fr7630006000011234567890189", IBAN),
    ("DE89 3704 0044 0532 0130 00", IBAN),
    ("ma carte 4111 1111 1111 1111 expire", CARD),
    ("5555555555554444", CARD),
    ("sécu 1 85 05 78 006 084 36", NIR),
    ("185057800608436", NIR),
    ("2 69 11 2A 123 456 12", NIR),
])
def test_pii_is_replaced(text, token):
    out = redact(text)
    assert token in out
    digits = "".join(ch for ch in out if ch.isdigit())
    assert len(digits) < 6, out  # no long number survives
    assert "@" not in out and "arobase" not in out


def test_ordinary_french_numbers_are_kept():
    text = "Le bus 91-06 part à 14 h 30, la région compte 12 300 000 habitants en 2024, code postal 75015."
    assert redact(text) == text


def test_words_after_an_iban_are_kept():
    assert redact("FR7630006000011234567890 tout va bien") == f"{IBAN} tout va bien"


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")


def test_mask_caller():
    assert mask_caller("+33612345678") == "06 •••••• 78"
    assert mask_caller("sip:0145678901@pbx.example.fr") == "01 •••••• 01"
    assert mask_caller("") == "inconnu"
    assert "12345" not in mask_caller("0612345678")


def test_redact_data_covers_text_fields_and_caller():
    d = redact_data({"text": "06 12 34 56 78", "caller": "+33612345678", "turn": 3, "bot_text": "a@b.fr"})
    assert d == {"text": PHONE, "caller": "06 •••••• 78", "turn": 3, "bot_text": EMAIL}


@pytest.mark.parametrize("text,token", [
    ("mon numéro c'est le zéro six douze trente-quatre cinquante-six soixante-dix-huit merci", PHONE),
    ("zéro six, douze, trente-quatre, cinquante-six, soixante-dix-huit.", PHONE),
    ("le 06 12 trente-quatre 56 78", PHONE),
    ("IBAN FR 76 30006 00001 12345678901 89 merci", IBAN),
    ("fr76-3000-6000-0112-3456-7890-189", IBAN),
    ("un quatre-vingt-cinq zéro cinq soixante-dix-huit zéro zéro six zéro quatre-vingt-quatre trente-six", NIR),
    ("quatre mille neuf cent soixante-dix quatre mille cent onze mille cent onze mille cent onze", NUMBER),
])
def test_numbers_spoken_as_words_are_replaced(text, token):
    out = redact(text)
    assert token in out, out
    assert "trente-quatre" not in out and "soixante-dix-huit" not in out and "onze" not in out


@pytest.mark.parametrize("text,token", [
    ("ma carte expire le 12/27 merci", EXPIRY),
    ("date d'expiration douze vingt-sept", EXPIRY),
    ("le cryptogramme est 123", CODE),
    ("code de sécurité cent vingt-trois", CODE),
    ("le CVV c'est quatre cinq six", CODE),
])
def test_card_expiry_and_security_code_are_replaced(text, token):
    out = redact(text)
    assert token in out, out
    assert not any(ch.isdigit() for ch in out.split(token)[1]) and "vingt" not in out


def test_amounts_years_and_counts_in_words_are_kept():
    text = ("en deux mille vingt-quatre le pass coûte quatre-vingt-dix-neuf euros, trois cents personnes, "
            "cent pour cent, dix-sept lignes, la validité est d'un an")
    assert redact(text) == text


def test_redact_event_data_masks_digits_and_keeps_raw_only_when_asked():
    safe = redact_event_data("transcript_final", {"text": "06 12 34 56 78", "turn": 1})
    assert safe == {"text": PHONE, "turn": 1}
    kept = redact_event_data("turn", {"caller_text": "06 12 34 56 78"}, keep_raw=True)
    assert kept["caller_text"] == PHONE and kept["raw"] == {"caller_text": "06 12 34 56 78"}
    assert redact_event_data("dtmf", {"digit": "7"}) == {"digit": "•"}
    assert redact_event_data("dtmf", {"digit": "0"}) == {"digit": "0"}  # 0 asks for an agent
    assert redact_event_data("call_started", {"caller": "+33612345678"})["caller"] == "06 •••••• 78"


def test_log_filter_cuts_query_strings_and_redacts_messages():
    import logging

    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5000", "/ws/pcm?rate=8000&caller=%2B33612345678"), None)
    RedactingLogFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/pcm?…" [accepted]'
    record = logging.LogRecord("x", logging.INFO, "", 0, "rappeler le %s", ("zéro six douze trente-quatre "
                               "cinquante-six soixante-dix-huit",), None)
    RedactingLogFilter().filter(record)
    assert record.getMessage() == f"rappeler le {PHONE}"


def test_handoff_card_tree_is_redacted_but_ids_are_kept():
    card = {"id": "1234567890123456", "call_id": "4111111111111111", "created_at": 1733000000.5,
            "summary": "rappeler au 06 12 34 56 78", "caller": "+33612345678", "turns": [{"text": "FR76 3000 6000 0112 3456 7890 189"}]}
    out = redact_tree(card)
    assert out["id"] == card["id"] and out["call_id"] == card["call_id"] and out["created_at"] == card["created_at"]
    assert out["summary"] == f"rappeler au {PHONE}" and out["caller"] == "06 •••••• 78"
    assert out["turns"] == [{"text": IBAN}]


def test_log_filter_redacts_extra_fields_too():
    import logging

    record = logging.LogRecord("x", logging.INFO, "", 0, "turn %d", (1,), None)
    record.caller_text, record.caller, record.call_id = "c'est le 06 12 34 56 78", "+33612345678", "4111111111111111"
    RedactingLogFilter().filter(record)
    assert record.caller_text == f"c'est le {PHONE}" and record.caller == "06 •••••• 78"
    assert record.call_id == "4111111111111111"  # ids are not personal data
