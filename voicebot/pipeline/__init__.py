"""The pipecat pipeline of a call: its processors (turns, STT, responder, TTS, watchdog, actions) and builder."""
