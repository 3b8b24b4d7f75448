"""Plain French words for the monitor's internal values: call states, end reasons, alerts, answer paths, transfer reasons and latency stages. Supervisors and document owners never see a raw key."""

from __future__ import annotations

import time
from typing import Any

from voicebot.calls.outcomes import answer_path

STATE_FR = {
    "greeting": "Message d'accueil", "listening": "Écoute l'appelant", "caller_speaking": "L'appelant parle",
    "thinking": "Cherche la réponse", "speaking": "Le bot répond", "transferring": "Transfert en cours",
    "ended": "Terminé",
}
REASON_FR = {"caller_hangup": "raccroché par l'appelant", "bot_hangup": "raccroché par le bot",
             "silence": "silence", "max_duration": "durée maximale", "transfer": "transféré",
             "error": "erreur", "worker_lost": "interrompu (serveur perdu)"}
ALERT_FR = {"person_requested": "Demande un conseiller", "not_understood": "Incompris 2 fois",
            "long_silence": "Long silence", "anger": "Colère"}
TRANSFER_REASON_FR = {"caller_request": "demande de l'appelant", "dtmf": "touche 0",
                      "no_answer": "pas de réponse du bot", "supervisor": "décision d'un superviseur"}
PATH_FR = {"llm": "Réponse rédigée et vérifiée", "extractive": "Extrait de la documentation",
           "no_answer": "Pas de réponse trouvée", "guard_rejected": "Réponse bloquée par la vérification",
           "error": "Panne du modèle, excuse lue", "other": "Autre (transfert, phrase fixe)"}
# Ordered stages of one turn's voice-to-voice latency (see pipeline/call_state.py LATENCY_MARKS).
LATENCY_STAGES_FR = [
    ("turn_end", "fin de phrase détectée"), ("stt_final", "transcription"),
    ("llm_first_token", "début de la réponse"), ("tts_first_sentence", "première phrase prête"),
    ("tts_first_audio", "voix synthétisée"), ("bot_audio_first", "le bot parle"),
]
_GUARD_FR = {"passed": "vérifiée", "rejected": "refusée par la vérification des chiffres",
             "unavailable": "modèle indisponible", "skipped": "sans modèle", "llm_error": "panne du modèle",
             "ok": "vérifiée"}


def guard_label(guard: str) -> str:
    """'skipped/no_answer' -> 'Pas de réponse trouvée'; 'passed/llm' -> 'Réponse rédigée et vérifiée'."""
    if not guard:
        return ""
    path = answer_path(guard)
    if path != "other":
        return PATH_FR[path]
    return _GUARD_FR.get(guard.lower(), guard)


def latency_steps(latency_ms: dict[str, Any]) -> list[dict[str, Any]]:
    """A turn's latency as readable steps: each stage's own duration and the running total."""
    steps, prev = [], 0.0
    for key, label in LATENCY_STAGES_FR:
        v = latency_ms.get(key)
        if isinstance(v, (int, float)):
            steps.append({"key": key, "label": label, "ms": round(max(0.0, v - prev)), "at_ms": round(v)})
            prev = float(v)
    known = {k for k, _ in LATENCY_STAGES_FR}
    for k, v in latency_ms.items():  # stages this list does not know still show, by their own name
        if k not in known and k != "speech_end" and isinstance(v, (int, float)):
            steps.append({"key": k, "label": k, "ms": round(v), "at_ms": None})
    return steps


def latency_text(latency_ms: dict[str, Any]) -> str:
    """'Réponse entendue après 1,2 s : transcription 300 ms · début de la réponse 450 ms · …'."""
    steps = latency_steps(latency_ms or {})
    if not steps:
        return ""
    total = latency_ms.get("bot_audio_first") or latency_ms.get("total")
    head = f"Réponse entendue après {_seconds(total)}" if isinstance(total, (int, float)) else "Délais"
    return head + " : " + " · ".join(f"{s['label']} {s['ms']} ms" for s in steps)


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.1f} s".replace(".", ",")


def fmt_time(ts: float | None) -> str:
    return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(ts)) if ts else ""


def fmt_duration(s: float | None) -> str:
    s = int(s or 0)
    return f"{s // 60} min {s % 60:02d} s"


def event_text(type_: str, data: dict[str, Any]) -> str:
    """One line of a call's event log in plain French (the same wording as common.js VB.eventText)."""
    d = data or {}
    if type_ == "transfer":
        status = {"accepted": "accepté", "refused": "refusé", "forwarded": "transmis au serveur de l'appel"}
        reason = TRANSFER_REASON_FR.get(str(d.get("reason")), str(d.get("reason") or ""))
        outcome = f" : {status.get(str(d.get('status')), str(d.get('status')))}" if d.get("status") else ""
        return f"Transfert vers la file {d.get('queue') or '?'} ({reason}){outcome}"
    if type_ == "dtmf":
        return f"Touche {d.get('digit', '?')} pressée"
    if type_ == "barge_in":
        return "L'appelant a coupé la parole au bot"
    if type_ == "silence":
        return f"Silence de {d.get('seconds', '?')} s" + (" : le bot raccroche" if d.get("action") == "hangup" else "")
    if type_ == "error":
        return "Incident technique" + (f" ({d.get('stage')})" if d.get("stage") else "")
    if type_ == "alert":
        return "Alerte : " + ALERT_FR.get(str(d.get("kind")), str(d.get("kind")))
    if type_ == "call_ended":
        return "Appel terminé (" + REASON_FR.get(str(d.get("reason")), str(d.get("reason") or "")) + ")"
    return type_


def register_filters(env: Any) -> None:
    env.filters.update(time=fmt_time, duration=fmt_duration, guard_label=guard_label,
                       latency_text=latency_text)
    env.globals.update(event_text=event_text)


GAP_KIND_FR = {"no_answer": "pas de réponse", "guard_rejected": "réponse bloquée par la vérification",
               "clarification_failed": "précision demandée, restée sans réponse", "transferred": "transféré après la question"}
GAP_STATUS_FR = {"": "À traiter", "document_added": "Document ajouté", "out_of_scope": "Hors périmètre"}
DIFF_KIND_FR = {"amount": "montant", "rate": "taux", "date": "date", "age": "âge", "threshold": "seuil",
                "number": "nombre", "text": "texte", "added": "ligne ajoutée", "removed": "ligne retirée"}
