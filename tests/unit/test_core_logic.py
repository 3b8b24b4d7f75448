"""Pure logic of the core: wire serializer, phrases, latency records, caller-side speech end, models."""

import asyncio
import json

import numpy as np
import pytest
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame, InterruptionFrame, OutputAudioRawFrame

from voicebot.models import ModelError, load_manifest, prepare_embedded_whisper, sha256_file
from voicebot.french import phrases
from voicebot.pipeline.call_state import LATENCY_MARKS, CallState
from benchmarks.text_metrics import wer
from voicebot.telephony.caller import speech_end_s
from voicebot.telephony.serializers import PcmSerializer


def _serializer(rate=16000):
    errors, controls = [], []
    s = PcmSerializer(rate, max_bytes=1000, on_error=lambda c, m: errors.append((c, m)), on_control=controls.append)
    return s, errors, controls


def test_pcm_serializer_audio_and_odd_bytes():
    s, errors, _ = _serializer()
    f = asyncio.run(s.deserialize(b"\x01\x00\x02"))  # 1.5 samples: the odd byte waits for the next message
    assert isinstance(f, InputAudioRawFrame) and f.audio == b"\x01\x00" and f.sample_rate == 16000
    f = asyncio.run(s.deserialize(b"\x00"))
    assert f.audio == b"\x02\x00"
    assert asyncio.run(s.deserialize(b"\x00" * 1001)) is None and errors[-1][0] == "frame_too_large"


@pytest.mark.parametrize("msg,code", [
    ("nope", "bad_json"), ("[1]", "bad_event"), ('{"event": 3}', "bad_event"),
    ('{"event": "fly"}', "unknown_event"), ('{"event": "dtmf", "digit": "12"}', "bad_dtmf"),
])
def test_pcm_serializer_bad_text_messages(msg, code):
    s, errors, _ = _serializer()
    assert asyncio.run(s.deserialize(msg)) is None
    assert errors and errors[-1][0] == code


def test_pcm_serializer_control_and_output():
    s, errors, controls = _serializer()
    f = asyncio.run(s.deserialize('{"event": "dtmf", "digit": "0"}'))
    assert isinstance(f, InputDTMFFrame) and f.button.value == "0"
    assert asyncio.run(s.deserialize('{"event": "hangup"}')) is None and controls == [{"event": "hangup"}]
    assert json.loads(asyncio.run(s.serialize(InterruptionFrame()))) == {"event": "clear"}
    pcm = (np.sin(np.arange(320) / 5) * 8000).astype(np.int16).tobytes()
    assert asyncio.run(s.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=16000, num_channels=1))) == pcm
    assert not errors


@pytest.mark.parametrize("text,back", [("Oui.", True), ("d’accord", True), ("Hmm", True), ("ah oui", True),
                                       ("oui je voudrais le tarif", False), ("non", False)])
def test_backchannels(text, back):
    assert phrases.is_backchannel(text) is back


@pytest.mark.parametrize("text,human", [("Je voudrais parler à un conseiller", True),
                                        ("passez-moi quelqu'un s'il vous plaît", True),
                                        ("Je veux un être humain", True), ("le prix du passe Navigo", False)])
def test_human_requests(text, human):
    assert phrases.asks_for_human(text) is human


def test_turn_record_is_published_once_in_stage_order():
    events, turns = [], []
    st = CallState("c1", publish=events.append, on_turn=turns.append)
    t = st.new_turn()
    for i, mark in enumerate(LATENCY_MARKS):
        t.mark(mark, 10.0 + i * 0.1)
    t.mark("speech_end", 99.0)  # first mark wins
    st.finish_turn(t.turn)
    st.finish_turn(t.turn)
    assert len(turns) == 1 and [e.type for e in events] == ["turn"]
    lat = turns[0]["latency_ms"]
    assert list(lat) == list(LATENCY_MARKS) and lat["speech_end"] == 0.0
    assert lat["bot_audio_first"] == 100.0 * (len(LATENCY_MARKS) - 1)


def test_speech_end_of_a_clip():
    rate = 8000
    tone = (np.sin(np.arange(rate) / 3) * 10000).astype(np.int16)
    samples = np.concatenate([np.zeros(rate // 2, np.int16), tone, np.zeros(rate, np.int16)])
    assert speech_end_s(samples, rate) == pytest.approx(1.5, abs=0.03)


def test_wer():
    assert wer("Le passe Navigo", "le passe navigo.") == 0.0
    assert wer("un deux trois quatre", "un trois quatre cinq") == 0.5


def test_whisper_parts_are_joined_once_and_checked(tmp_path):
    entry = dict(load_manifest()["stt"]["embedded"])
    path = prepare_embedded_whisper(entry, tmp_path)
    assert sha256_file(path / "model.bin") == entry["sha256"]["model.bin"]
    mtime = (path / "model.bin").stat().st_mtime_ns
    assert prepare_embedded_whisper(entry, tmp_path) == path and (path / "model.bin").stat().st_mtime_ns == mtime
    bad = dict(entry, sha256={"model.bin": "0" * 64})
    with pytest.raises(ModelError, match="expected 0000"):
        prepare_embedded_whisper(bad, tmp_path / "other")
    assert not (tmp_path / "other" / "models" / "whisper-base").exists()
