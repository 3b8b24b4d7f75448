"""voicebot.pipeline"""
