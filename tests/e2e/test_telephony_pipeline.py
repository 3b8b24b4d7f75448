"""baresip calls the real voice pipeline over SIP: it hears the spoken greeting and an answer.

Uses the app's Worker (the same pipeline as the WebSocket path, embedded models) as the endpoint's on_call.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from telephony_peers import (baresip_home, baresip_recordings, free_port_range, free_udp_port, read_wav,
                             run_baresip, speech_clip_8k, windowed_correlation, write_wav)

pytestmark = [pytest.mark.models]


def _loud_seconds(pcm: np.ndarray, rate: int, threshold: float = 300.0) -> float:
    n = rate // 50
    frames = pcm[: len(pcm) // n * n].reshape(-1, n).astype(np.float64)
    return float((np.sqrt((frames ** 2).mean(axis=1)) > threshold).sum() * 0.02)


async def test_baresip_hears_the_greeting_and_an_answer(tmp_path):
    from voicebot.app import Worker
    from voicebot.config import load_settings
    from voicebot.telephony.settings import SipSettings
    from voicebot.telephony.sip_transport import SipEndpoint

    settings = load_settings(None, {"server.data_dir": str(tmp_path / "data")})
    worker = Worker(settings)
    await worker.start()
    rtp = free_port_range()
    ep = SipEndpoint(SipSettings(port=free_udp_port(), rtp_port_min=rtp[0], rtp_port_max=rtp[1]), worker.run_call)
    await ep.start()
    try:
        # Greeting first (~6 s), then the question, then silence to hear the answer.
        clip = speech_clip_8k(tmp_path, "029.wav", pad_s=20.0)
        pcm, _ = read_wav(clip)
        lead_in = np.zeros(8000 * 7, dtype=np.int16)
        write_wav(clip, np.concatenate([lead_in, pcm]), 8000)
        home = baresip_home(tmp_path, clip, free_udp_port(), free_port_range(20))
        out = await run_baresip(home, [(0.3, f"/dial sip:bot@127.0.0.1:{ep.port}")], quit_after_s=40, timeout=90)
        for _ in range(50):  # the call ends on both sides
            if not ep.calls:
                break
            await asyncio.sleep(0.1)
        assert not ep.calls and ep.call_limiter.active == 0, out[-2000:]
    finally:
        with contextlib.suppress(Exception):
            await ep.stop()
        store = worker.call_services.store
        await asyncio.sleep(0.5)  # the recorder has the call's last events
        recorded = [(c, store.turns(c["id"])) for c in store.history(limit=5)]
        await worker.stop()
    _, received = baresip_recordings(home)
    assert received is not None, out[-2000:]
    heard, rate = read_wav(received)
    assert _loud_seconds(heard, rate) > 4.0  # greeting + answer, not silence
    # What the bot logged it said (the call store), synthesised again with the bot's own voice, must be
    # what baresip heard: per-second correlation of the two signals after the G.711 line. (Whisper base
    # cannot transcribe the offline espeak voice reliably — round-trip WER 0.96 through G.711, benchmarks/tts_voices.py —
    # so the signal itself is compared, which is stricter than a transcript.)
    assert recorded, "the call was not recorded"
    turns = recorded[0][1]
    assert turns and turns[0]["bot_text"].strip(), turns
    from voicebot.app import choose_tts
    from voicebot.french.speech import to_speech
    from voicebot.pipeline.tts import synthesize_at

    tts = choose_tts(settings)
    await tts.start()
    try:
        greeting_8k = np.frombuffer(await synthesize_at(tts, to_speech(settings.pipeline.greeting), rate), np.int16)
        answer_8k = np.frombuffer(await synthesize_at(tts, to_speech(turns[0]["bot_text"]), rate), np.int16)
    finally:
        await tts.stop()
    assert windowed_correlation(greeting_8k, heard[: rate * 12], rate, max_lag_s=10) > 0.7
    assert windowed_correlation(answer_8k, heard[rate * 7:], rate, max_lag_s=30) > 0.7
