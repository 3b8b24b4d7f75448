"""G.711 mu-law and A-law codecs (ITU-T G.711) as numpy lookup tables.

``audioop`` is deprecated in Python 3.11 and gone in 3.13, so the tables are built here once, from
the segment/quantisation definition of the standard, and every frame is then one numpy take().
"""

from __future__ import annotations

import numpy as np

SIGN_BIT = 0x80  # sign bit of a G.711 byte
QUANT_MASK = 0x0F  # quantisation field of a G.711 byte
SEG_SHIFT = 4  # position of the segment field
SEG_MASK = 0x70  # segment field of a G.711 byte
ULAW_BIAS = 0x84  # added before mu-law segment search (132)
ULAW_CLIP = 8159  # largest 14-bit magnitude mu-law can code
ULAW_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
ALAW_EVEN_BIT_INVERSION = 0x55  # A-law inverts even bits on the wire
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for i, end in enumerate(ends):
        if value <= end:
            return i
    return len(ends)


def _ulaw_encode_sample(pcm: int) -> int:
    pcm >>= 2  # 16-bit -> 14-bit
    if pcm < 0:
        pcm, mask = -pcm, 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, ULAW_CLIP) + (ULAW_BIAS >> 2)
    seg = _segment(pcm, ULAW_SEGMENT_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << SEG_SHIFT) | ((pcm >> (seg + 1)) & QUANT_MASK)) ^ mask


def _ulaw_decode_sample(code: int) -> int:
    code = ~code & 0xFF
    t = ((code & QUANT_MASK) << 3) + ULAW_BIAS
    t <<= (code & SEG_MASK) >> SEG_SHIFT
    return ULAW_BIAS - t if code & SIGN_BIT else t - ULAW_BIAS


def _alaw_encode_sample(pcm: int) -> int:
    pcm >>= 3  # 16-bit -> 13-bit
    if pcm >= 0:
        mask = SIGN_BIT | ALAW_EVEN_BIT_INVERSION
    else:
        mask = ALAW_EVEN_BIT_INVERSION
        pcm = -pcm - 1
    seg = _segment(pcm, ALAW_SEGMENT_ENDS)
    if seg >= 8:
        return 0x7F ^ mask
    code = seg << SEG_SHIFT
    code |= (pcm >> 1) & QUANT_MASK if seg < 2 else (pcm >> seg) & QUANT_MASK
    return code ^ mask


def _alaw_decode_sample(code: int) -> int:
    code ^= ALAW_EVEN_BIT_INVERSION
    t = (code & QUANT_MASK) << 4
    seg = (code & SEG_MASK) >> SEG_SHIFT
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if code & SIGN_BIT else -t


_PCM_RANGE = np.arange(-32768, 32768, dtype=np.int32)
# Encode tables are indexed by the int16 sample viewed as uint16 (so -1 -> 65535).
ULAW_ENCODE = np.zeros(65536, dtype=np.uint8)
ALAW_ENCODE = np.zeros(65536, dtype=np.uint8)
for _pcm in _PCM_RANGE.tolist():
    ULAW_ENCODE[_pcm & 0xFFFF] = _ulaw_encode_sample(_pcm)
    ALAW_ENCODE[_pcm & 0xFFFF] = _alaw_encode_sample(_pcm)
ULAW_DECODE = np.array([_ulaw_decode_sample(c) for c in range(256)], dtype=np.int16)
ALAW_DECODE = np.array([_alaw_decode_sample(c) for c in range(256)], dtype=np.int16)
del _pcm


def ulaw_encode(pcm16: bytes) -> bytes:
    """Little-endian PCM16 -> mu-law bytes."""
    return ULAW_ENCODE[np.frombuffer(pcm16, dtype="<i2").view(np.uint16)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """mu-law bytes -> little-endian PCM16."""
    return ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def alaw_encode(pcm16: bytes) -> bytes:
    return ALAW_ENCODE[np.frombuffer(pcm16, dtype="<i2").view(np.uint16)].tobytes()


def alaw_decode(data: bytes) -> bytes:
    return ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


ENCODERS = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
DECODERS = {"PCMU": ulaw_decode, "PCMA": alaw_decode}
SILENCE_BYTE = {"PCMU": ULAW_SILENCE, "PCMA": ALAW_SILENCE}
