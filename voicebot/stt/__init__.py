"""voicebot.stt"""
