"""voicebot.llm"""
