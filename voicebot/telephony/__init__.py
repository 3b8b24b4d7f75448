"""voicebot.telephony"""
