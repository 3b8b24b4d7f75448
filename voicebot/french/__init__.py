"""French text, in one leaf package every other room may import (it imports nothing of voicebot).

``speech`` (text written for the ear: numbers, dates, amounts, sentence cutting for TTS), ``dates``
(month names, spoken dates), ``sentences`` (cutting written text into sentences) and ``phrases``
(every fixed sentence the caller hears, the LLM system prompt, caller-word matching), ``numbers`` (numbers
as said, turned into digits: shared by the dossier flow and redaction), ``redaction`` (French
personal data in text, written or spoken: the one redaction step before anything leaves the pipeline).
"""
