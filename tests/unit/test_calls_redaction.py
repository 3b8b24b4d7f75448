import pytest

from voicebot.calls.redaction import CARD, EMAIL, IBAN, NIR, PHONE, luhn_ok, mask_caller, redact, redact_data


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
