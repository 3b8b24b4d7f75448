"""Speech-to-text engines: faster-whisper and the transcript guard (no pipecat processor here)."""
