"""The voice benchmark's scoring: no voice is charged for Whisper's digits, loops are counted apart."""

from __future__ import annotations

import numpy as np

from benchmarks.tts_voices import edits, pieces, score, telephone


def test_digits_and_words_compare_equal_after_the_same_speech_normalisation():
    e, n, h = edits("Le ticket de métro coûte 2,55 €.", "Le ticket de métro coûte deux euros cinquante-cinq.")
    assert e == 0 and n == h and n >= 8
    e, n, _ = edits("Le ticket de métro coûte 2,55 €.", "Le ticket de métro coûte 3 €.")
    assert 0 < e <= n


def test_a_looping_transcript_is_one_loop_and_its_edits_count_once_in_the_corpus():
    rows = [{"p": {"edits": 0, "ref_words": 10, "hyp_words": 10}},
            {"p": {"edits": 40, "ref_words": 10, "hyp_words": 50}}]
    s = score(rows, "p")
    assert s["loops"] == 1 and s["wer"] == 2.0 and s["sentences_wer_le_0_2"] == 1


def test_an_answer_reaches_the_tts_as_the_responder_cuts_it():
    parts = pieces("Le passe Navigo mois coûte 90,80 €, pour toutes les zones. Voulez-vous les conditions ?")
    assert parts[0].startswith("Le passe Navigo mois coûte quatre-vingt-dix euros")
    assert parts[-1] == "Voulez-vous les conditions ?" and len(parts) >= 2


def test_the_telephone_path_keeps_the_duration_and_most_of_the_signal():
    t = np.arange(22050) / 22050
    tone = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = telephone(tone, 22050)
    assert abs(len(out) - 16000) <= 2
    assert np.corrcoef(out[1000:15000], np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)[1000:15000])[0, 1] > 0.95
