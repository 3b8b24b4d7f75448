"""The benchmark's test softphone times each turn from that turn's end of speech.

A scripted WebSocket peer on loopback plays the bot: it answers each caller turn 0.2 s after the turn's
speech, and in the second turn it also sends a burst of audio while the caller is still speaking (the
tail of a previous answer, as a slow TTS under load gives). The latency benchmark once timed such a
burst from the previous turn's end of speech and reported 11 s and 31 s for answers sent after 1.4 s.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from voicebot.telephony.caller import dbfs, place_call, write_wav

RATE = 8000
FRAME = RATE // 50  # 20 ms


def _tone(seconds: float) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16).tobytes()


async def _bot(ws) -> None:
    """Answer each caller turn 0.2 s after its speech; in turn 2, a stray burst 0.3 s into the speech."""
    await ws.send(json.dumps({"event": "connected", "call_id": "c1"}))
    await ws.send(_tone(0.3))  # greeting
    turn, loud, quiet, answered = 0, 0, 0, True
    async for msg in ws:
        if not isinstance(msg, bytes):
            if json.loads(msg).get("event") == "hangup":
                await ws.send(json.dumps({"event": "hangup", "reason": "caller"}))
                return
            continue
        if dbfs(msg) > -40:
            if answered:  # a new caller turn starts
                turn, loud, answered = turn + 1, 0, False
            loud += 1
            quiet = 0
            if turn == 2 and loud == 15:
                await ws.send(_tone(0.2))  # audio while the caller still speaks
        elif not answered:
            quiet += 1
            if quiet == 10:  # 0.2 s after the end of the turn's speech
                answered = True
                await ws.send(json.dumps({"event": "turn", "caller_text": f"tour {turn}",
                                          "bot_text": "réponse", "latency_ms": {}}))
                await ws.send(_tone(0.4))


@pytest.mark.asyncio
async def test_each_turn_is_timed_from_its_own_end_of_speech(tmp_path):
    import websockets

    clip = tmp_path / "turn.wav"
    write_wav(clip, _tone(1.0) + bytes(int(RATE * 0.6) * 2), RATE)
    async with websockets.serve(_bot, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        result = await asyncio.wait_for(
            place_call(f"ws://127.0.0.1:{port}/ws", [clip, clip], quiet_after_answer_s=0.6,
                       speech_ends={str(clip): 1.0}), 30)
    assert [t.answered for t in result.turns] == [True, True]
    for t in result.turns:
        # 0.2 s of silence counted by the peer, plus frame pacing; far from the seconds the burst gave.
        assert t.wire_latency_ms is not None and 150 <= t.wire_latency_ms <= 900, t.to_dict()
