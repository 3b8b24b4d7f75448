"""The latency benchmark's fair parts: the clip's known speech end, and turn pairing with failures counted."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

from benchmarks.speech_end import SpeechEndCache, last_speech_end, wav_speech_end
from benchmarks.turn_pairing import canned_phrases, is_canned, pair_turns
from voicebot.french import phrases
from voicebot.telephony.caller import read_wav, speech_end_s


def test_last_speech_end_ignores_runs_shorter_than_a_word():
    probs = [0.0, 0.9, 0.9, 0.9, 0.9, 0.1, 0.0, 0.95, 0.1, 0.0]  # speech, then a one-window click
    assert last_speech_end(probs, 0.032) == 5 * 0.032
    assert last_speech_end([0.2, 0.4, 0.1], 0.032) is None
    assert last_speech_end(probs, 0.032, min_run=1) == 8 * 0.032


def _speech_with_a_click(path: Path) -> float:
    """espeak-ng French speech, 1 s of silence, a loud 20 ms click, 1 s of silence; returns the speech end (s)."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "fr", "-w", str(raw), "Bonjour, je voudrais un renseignement."], check=True)
    speech = read_wav(raw, 16000)
    nz = np.nonzero(np.abs(speech) > 300)[0]
    speech = speech[: nz[-1] + 1]
    click = (np.sin(np.arange(320) * 0.9) * 30000).astype(np.int16)
    silence = np.zeros(16000, dtype=np.int16)
    samples = np.concatenate([silence[:4000], speech, silence, click, silence])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(samples.tobytes())
    return (4000 + len(speech)) / 16000


def test_speech_end_comes_from_vad_on_the_file_not_from_a_click(tmp_path):
    wav = tmp_path / "clip.wav"
    true_end = _speech_with_a_click(wav)
    end = wav_speech_end(wav)
    assert end is not None and abs(end - true_end) < 0.25, (end, true_end)
    # the caller's energy estimate is moved by the click by about a second: why the benchmark no longer uses it
    assert speech_end_s(read_wav(wav, 8000), 8000) > true_end + 0.8


def test_speech_end_cache_keys_on_content_and_persists(tmp_path):
    wav = tmp_path / "clip.wav"
    _speech_with_a_click(wav)
    cache_file = tmp_path / "cache.json"
    first = SpeechEndCache(cache_file).ends([wav])
    assert cache_file.is_file() and list(first) == [str(wav)]
    again = SpeechEndCache(cache_file)
    assert again.get(wav) == first[str(wav)]
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(32000))
    assert again.ends([silent]) == {}  # no speech: left out (and logged), never a made-up end


def test_the_reference_decodes_with_voicebots_options_whatever_pipecat_passes():
    from benchmarks.reference.stock_server import SharedWhisper
    from voicebot.stt.whisper import DECODE_OPTIONS

    seen = {}

    class Model:
        def transcribe(self, audio, **kwargs):
            seen.update(kwargs)
            return [], None

    shared = SharedWhisper.__new__(SharedWhisper)
    shared._model, shared.options = Model(), {"beam_size": 1, **DECODE_OPTIONS}
    shared.transcribe(np.zeros(16000, np.float32), language="fr", hotwords=None, initial_prompt=None)
    assert seen["beam_size"] == 1 and seen["temperature"] == 0.0 and seen["without_timestamps"] is True
    assert seen["vad_filter"] is False and seen["language"] == "fr"


def _sample(system, call, position, clip, ms, text="Voici la réponse.", answered=True):
    return {"system": system, "call": call, "position": position, "clip": clip, "wire_ms": ms,
            "answered": answered, "bot_text": text}


def test_pairing_counts_missing_and_unanswered_turns_as_failures_and_keeps_canned_apart():
    planned = [(0, 0, "a.wav"), (0, 1, "b.wav"), (0, 2, "c.wav"), (1, 0, "d.wav")]
    samples = [
        _sample("ours", 0, 0, "a.wav", 900), _sample("reference", 0, 0, "a.wav", 1500),
        _sample("ours", 0, 1, "b.wav", 800, text=phrases.TRANSFER), _sample("reference", 0, 1, "b.wav", 1400),
        _sample("ours", 0, 2, "c.wav", None, answered=False), _sample("reference", 0, 2, "c.wav", 1600),
        _sample("ours", 1, 0, "d.wav", 700),  # the reference never played this turn (its call failed)
    ]
    p = pair_turns(planned, samples, canned_phrases())
    assert [(r["clip"], r["ours_ms"], r["reference_ms"]) for r in p.paired] == [("a.wav", 900, 1500)]
    assert [r["clip"] for r in p.canned] == ["b.wav"]
    assert [(f["clip"], f["why"]) for f in p.failures["ours"]] == [("c.wav", "not answered")]
    assert [(f["clip"], f["why"]) for f in p.failures["reference"]] == [("d.wav", "no sample")]
    assert p.summary() == {"planned_turns": 4, "paired_turns": 1, "canned_turns": 1, "failures_ours": 1,
                           "failures_reference": 1}


def test_canned_phrases_are_recognised_whatever_the_case_and_accents():
    canned = canned_phrases()
    assert is_canned("je vous mets en relation avec un conseiller. merci", canned)
    assert is_canned(phrases.NO_ANSWER, canned)
    assert not is_canned("Le passe Navigo mois coûte 90,80 euros.", canned)
    assert not is_canned("", canned)


def test_both_sides_sample_the_llm_alike():
    """The stock reference is given ours' answer length and temperature (it would otherwise generate until the
    context ends, holding the shared one-request-at-a-time LLM server); what is not given stays pipecat's."""
    from benchmarks.latency import Bench
    from benchmarks.reference.stock_server import StockConfig
    from voicebot.config import load_settings

    bench = Bench(load_settings(), True, 1, Path("."), False, [1], False, None, False,
                  {"VOICEBOT_LLM__MAX_TOKENS": "64"})
    assert bench.llm_config() == {"llm_max_tokens": 64, "llm_temperature": load_settings().llm.temperature}
    config = StockConfig("http://x/v1", Path("m"), "http://p", llm_max_tokens=64, llm_temperature=0.2)
    assert config.llm_sampling() == {"max_tokens": 64, "temperature": 0.2}
    assert StockConfig("http://x/v1", Path("m"), "http://p").llm_sampling() == {}
