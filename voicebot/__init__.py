"""voicebot: a sovereign French voice agent for regional call centres."""

__version__ = "0.1.0"
