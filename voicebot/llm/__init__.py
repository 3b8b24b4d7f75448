"""The LLM: the one OpenAI-compatible streaming client and the embedded llama.cpp server (engines only)."""
