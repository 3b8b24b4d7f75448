"""Dialogue: conversation state, caller intents and pluggable multi-turn flows (shared by calls and chat).

A leaf package: it never imports the pipeline. `manager.DialogueManager` is the entry point,
`factory.build_flows(settings)` the one place where flows are registered.
"""
