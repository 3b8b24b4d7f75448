"""Text-to-speech engines: Piper servers (child processes) and espeak-ng (no pipecat processor here)."""
