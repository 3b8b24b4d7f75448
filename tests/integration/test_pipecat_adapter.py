"""The one place voicebot reaches into pipecat's private attributes (``SharedSmartTurn``), checked against
the installed pipecat: an upgrade that renames or adds what the adapter depends on fails here, by name,
instead of in a call."""

from __future__ import annotations

import numpy as np
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

from benchmarks.harness import TEST_CLIPS
from benchmarks.turn_tuning import telephone_16k
from voicebot.pipeline.turns import ADAPTER_ATTRIBUTES, PIPECAT_PRIVATE, SharedSmartTurn


def test_every_private_part_the_adapter_uses_still_exists():
    analyzer = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000)
    missing = [name for name in PIPECAT_PRIVATE if not hasattr(analyzer, name)]
    assert not missing, f"pipecat no longer has {missing}: update voicebot.pipeline.turns.SharedSmartTurn"


def test_a_shared_analyzer_is_set_up_like_pipecat_s_own():
    """The second analyzer skips LocalSmartTurnAnalyzerV3.__init__ (the model load): it must still end up
    with every attribute pipecat's own __init__ sets, and share the one ONNX session."""
    own = LocalSmartTurnAnalyzerV3(params=SmartTurnParams(), sample_rate=16000)
    first = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000)
    second = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000)
    assert second._session is first._session
    assert set(vars(second)) - set(ADAPTER_ATTRIBUTES) == set(vars(own)), set(vars(second)) ^ set(vars(own))


async def test_an_early_prediction_leaves_the_analyzer_untouched():
    analyzer = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000)
    analyzer.set_sample_rate(16000)
    pcm = telephone_16k("029.wav", TEST_CLIPS)
    for i in range(0, len(pcm) - 640 + 1, 640):  # 20 ms frames, all marked as speech
        analyzer.append_audio(pcm[i:i + 640], True)
    frames = len(analyzer._audio_buffer)
    state, _ = await analyzer.predict_soon()
    assert state in (EndOfTurnState.COMPLETE, EndOfTurnState.INCOMPLETE)
    assert len(analyzer._audio_buffer) == frames and analyzer.speech_triggered
    final, _ = await analyzer.analyze_end_of_turn()
    assert final == state  # same audio, same verdict as pipecat's own end-of-turn analysis
    assert np.frombuffer(pcm, np.int16).size > 16000  # the clip was real audio, not an empty run


async def test_the_completion_threshold_decides_on_pipecat_s_probability():
    """Same audio, same probability: a threshold below it says complete, one above it says incomplete."""
    pcm = telephone_16k("029.wav", TEST_CLIPS)
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
    probability = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000)._predict_endpoint(audio)["probability"]
    assert 0.0 <= probability <= 1.0
    low = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000, completion_threshold=max(1e-6, probability - 1e-3))
    high = SharedSmartTurn(params=SmartTurnParams(), sample_rate=16000, completion_threshold=min(0.999999, probability + 1e-3))
    assert low._predict_endpoint(audio)["prediction"] == 1
    assert high._predict_endpoint(audio)["prediction"] == 0
