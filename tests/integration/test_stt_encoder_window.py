"""The 'speech' encoder window: Whisper's encoder runs on the turn (plus 0.5 s), not a 30-s padded window,
and the transcripts stay right. Real model, real clips; time is the benchmark's business (stt_wer.py)."""

from __future__ import annotations

import numpy as np
import pytest
from core_support import clip, transcripts

from benchmarks.text_metrics import wer
from voicebot.config import load_settings
from voicebot.models import resolve
from voicebot.stt.whisper import WhisperEngine, speech_window_frames
from voicebot.telephony.caller import read_wav

pytestmark = pytest.mark.models
CLIPS = ["029.wav", "002.wav", "001.wav"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    settings = load_settings(overrides={"server.data_dir": str(tmp_path_factory.mktemp("stt-window-data"))})
    return resolve("stt", settings).path


@pytest.mark.parametrize(("seconds", "min_s", "frames"), [
    (0.1, 0, 100), (2.0, 0, 300), (2.6, 0, 400), (29.6, 0, 3000), (45.0, 0, 3000),
    (2.0, 10, 1000), (12.0, 10, 1300), (2.0, 45, 3000)])
def test_the_window_covers_the_turn_and_half_a_second_in_whole_seconds(seconds, min_s, frames):
    assert speech_window_frames(int(seconds * 16000), min_s) == frames


def test_an_unknown_window_is_refused_with_its_name(model_path):
    with pytest.raises(ValueError, match="'half'"):
        WhisperEngine(model_path, encoder_window="half")


def test_speech_window_encodes_only_the_turn_and_transcribes_it_as_well(model_path):
    full = WhisperEngine(model_path, cpu_threads=2)
    short = WhisperEngine(model_path, cpu_threads=2, encoder_window="speech", encoder_min_s=6.0)
    refs = transcripts()
    for name in CLIPS:
        audio = read_wav(clip(name), 16000).astype(np.float32) / 32768.0
        a, b = full.transcribe(audio), short.transcribe(audio)
        assert full.model.frames.last == 3000  # the stock path pads to 30 s
        assert short.model.frames.last == speech_window_frames(len(audio), 6.0) < 3000
        assert short.model.frames.n == 0  # the window is per transcription, never left set
        assert wer(refs[name], b.text) <= max(0.5, wer(refs[name], a.text) + 0.15), (name, a.text, b.text)


def test_a_loop_on_the_cut_window_is_decoded_again_on_the_full_window(model_path):
    """A looped decode (Whisper's compression-ratio sign) is redone on the 30-s window, once."""
    from voicebot.stt.whisper import Transcript

    engine = WhisperEngine(model_path, cpu_threads=2, encoder_window="speech")
    audio = read_wav(clip("029.wav"), 16000).astype(np.float32) / 32768.0
    seen: list[int] = []
    real = engine._decode

    def decode(audio, window, t0):
        seen.append(window)
        if window:  # what the benchmark saw on one 7-s sentence: 815 characters of repetition
            return Transcript("la course " * 80, -0.3, 0.1, 12.5, len(audio) / 16000, 0.1)
        return real(audio, window, t0)

    engine._decode = decode  # type: ignore[method-assign]
    text = engine.transcribe(audio).text
    assert seen == [1000, 0] and engine.window_retries == 1
    assert 0 < len(text) < 300 and wer(transcripts()["029.wav"], text) <= 0.5, text
    seen.clear()
    engine._decode = real  # type: ignore[method-assign]
    engine.transcribe(audio)
    assert engine.window_retries == 1  # a clean decode is not redone


def test_nothing_from_a_spoken_turn_is_decoded_again_on_the_full_window(model_path):
    from voicebot.stt.whisper import Transcript

    engine = WhisperEngine(model_path, cpu_threads=2, encoder_window="speech")
    audio = read_wav(clip("029.wav"), 16000).astype(np.float32) / 32768.0
    real = engine._decode

    def decode(audio, window, t0):  # what the product benchmark saw once: "" for a 3-s question
        return Transcript("", None, None, None, len(audio) / 16000, 0.1) if window else real(audio, window, t0)

    engine._decode = decode  # type: ignore[method-assign]
    assert engine.transcribe(audio).text and engine.window_retries == 1
    assert engine.transcribe(np.zeros(8000, np.float32)).text == "" and engine.window_retries == 1  # 0.5 s


def test_a_short_turn_keeps_the_full_window(model_path):
    """A reply under encoder_full_below_s ('oui', 'non merci') is decoded on the 30-s window it needs."""
    engine = WhisperEngine(model_path, cpu_threads=2, encoder_window="speech", encoder_full_below_s=2.5)
    audio = read_wav(clip("029.wav"), 16000).astype(np.float32) / 32768.0
    engine.transcribe(audio[: int(2.4 * 16000)])
    assert engine.model.frames.last == 3000
    engine.transcribe(audio[: int(2.6 * 16000)])
    assert engine.model.frames.last == speech_window_frames(int(2.6 * 16000), 10.0) == 1000


@pytest.mark.parametrize(("seconds", "tokens"), [(0.5, 26), (1.0, 32), (3.0, 56), (8.3, 119), (60.0, 440)])
def test_a_turn_decodes_at_most_twelve_tokens_a_second_plus_twenty(seconds, tokens):
    from voicebot.stt.whisper import max_new_tokens

    assert max_new_tokens(seconds) == tokens


def test_the_token_bound_cuts_no_word_of_the_fastest_clips(model_path):
    """The bound that stops a looping decode leaves real speech whole: 004 is the
    fastest speech of the shared clips (6 tokens a second); each decodes the same with and without it."""
    from voicebot.stt.whisper import DECODE_OPTIONS

    engine = WhisperEngine(model_path, cpu_threads=2)
    for name in ["004.wav", "029.wav", "001.wav"]:
        audio = read_wav(clip(name), 16000).astype(np.float32) / 32768.0
        segments, _ = engine.model.transcribe(audio, language="fr", beam_size=1, **DECODE_OPTIONS)
        unbounded = " ".join(s.text.strip() for s in segments).strip()
        assert engine.transcribe(audio).text == unbounded, name


def test_the_token_bound_reaches_the_decoder(model_path, monkeypatch):
    import voicebot.stt.whisper as whisper

    engine = WhisperEngine(model_path, cpu_threads=2)
    audio = read_wav(clip("004.wav"), 16000).astype(np.float32) / 32768.0
    whole = engine.transcribe(audio).text
    monkeypatch.setattr(whisper, "MAX_TOKENS_PER_S", 0)
    monkeypatch.setattr(whisper, "MAX_TOKENS_BASE", 4)
    cut = engine.transcribe(audio).text
    assert 0 < len(cut.split()) <= 4 < len(whole.split()), (cut, whole)
