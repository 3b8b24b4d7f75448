"""The region's back-office APIs ("APIsation du SI").

A typed interface, one OpenAPI-driven HTTP adapter, a sample service, and the dossier status flow of
the dialogue.

Kept light on import (the settings are read by ``voicebot.config``); import the submodules you need.
"""
