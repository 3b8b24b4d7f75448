"""voicebot's own RTP media (RFC 3550), G.711 codecs and RFC 4733 DTMF.

Why our own: see ``voicebot.telephony.sip`` (no maintained, permissive, asyncio Python RTP stack;
the media path of every call must be ours to read and fix). MIT-licensed libraries were read for
reference only; no code was copied.
"""
