"""voicebot.calls"""
