"""voicebot.tts"""
