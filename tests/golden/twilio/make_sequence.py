"""Writes call-029.jsonl: a Twilio Media Streams session (connected, start, media..., stop) carrying the
committed clip 029.wav (tests/data/speech-fr) as 8 kHz μ-law, message by message in Twilio's documented format (field names,
order, 20 ms / 160-byte payloads, sequenceNumber/chunk/timestamp counters). Regenerate with:
    python tests/golden/twilio/make_sequence.py
"""

import base64
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from core_support import clip  # noqa: E402

from voicebot.telephony.caller import read_wav  # noqa: E402

BIAS, CLIP = 0x84, 32635


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """ITU-T G.711 μ-law."""
    x = pcm.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    x = np.minimum(np.abs(x), CLIP) + BIAS
    exp = np.floor(np.log2(x)).astype(np.int32) - 7
    exp = np.clip(exp, 0, 7)
    mant = (x >> (exp + 3)) & 0x0F
    return (~(sign | (exp << 4) | mant) & 0xFF).astype(np.uint8).tobytes()


def main() -> None:
    stream, call, account = "MZ18ad3ab5a668481ce02b83e7395059f0", "CA5a1b2c3d4e5f60718293a4b5c6d7e8f9", "AC0123456789abcdef0123456789abcdef"
    audio = read_wav(clip("029.wav"), 8000)
    seq = 1
    out = [{"event": "connected", "protocol": "Call", "version": "1.0.0"}]
    seq += 1
    out.append({"event": "start", "sequenceNumber": str(seq), "start": {
        "accountSid": account, "streamSid": stream, "callSid": call, "tracks": ["inbound"],
        "customParameters": {"caller": "+33100000000"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}, "streamSid": stream})
    for i, start in enumerate(range(0, len(audio), 160), 1):
        chunk = audio[start:start + 160]
        chunk = np.pad(chunk, (0, 160 - len(chunk)))
        seq += 1
        out.append({"event": "media", "sequenceNumber": str(seq), "media": {
            "track": "inbound", "chunk": str(i), "timestamp": str((i - 1) * 20),
            "payload": base64.b64encode(mulaw_encode(chunk)).decode()}, "streamSid": stream})
    seq += 1
    out.append({"event": "stop", "sequenceNumber": str(seq), "stop": {"accountSid": account, "callSid": call},
                "streamSid": stream})
    (HERE / "call-029.jsonl").write_text("\n".join(json.dumps(m) for m in out) + "\n")


if __name__ == "__main__":
    main()
