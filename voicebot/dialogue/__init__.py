"""The dialogue: contracts of the multi-turn tasks it hands the conversation to (see flow.py)."""
