"""Plain French words for the monitor's internal values (call states, end reasons, alerts) and the
templates' time and duration filters."""

from __future__ import annotations

import time
from typing import Any

STATE_FR = {"greeting": "accueil", "listening": "écoute", "thinking": "réflexion", "speaking": "parle",
            "transferring": "transfert", "ended": "terminé"}
REASON_FR = {"caller_hangup": "raccroché par l'appelant", "bot_hangup": "raccroché par le bot",
             "silence": "silence", "max_duration": "durée maximale", "transfer": "transféré",
             "error": "erreur", "worker_lost": "interrompu (serveur perdu)"}
ALERT_FR = {"person_requested": "Demande un conseiller", "not_understood": "Incompris 2 fois",
            "long_silence": "Long silence", "anger": "Colère"}


def fmt_time(ts: float | None) -> str:
    return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(ts)) if ts else ""


def fmt_duration(s: float | None) -> str:
    s = int(s or 0)
    return f"{s // 60} min {s % 60:02d} s"


def register_filters(env: Any) -> None:
    env.filters.update(time=fmt_time, duration=fmt_duration)
