"""A dossier lookup in a call's records: the lookup event is stored redacted, shown on the live board,
and the handoff card carries the (masked) dossier reference and what the caller was told."""

from __future__ import annotations

import re

from sqlalchemy import text

from calls_support import ScriptedCall, wait_for
from voicebot.events import CallEvent
from voicebot.calls.runtime import CallServices
from voicebot.calls.settings import CallsSettings
from voicebot.monitor.live import LiveBoard


def dump_store(store) -> str:
    """Every stored row of the call tables, as text."""
    with store.engine.connect() as conn:
        return "\n".join(str(tuple(row)) for table in ("calls", "turns", "events", "handoffs")
                         for row in conn.execute(text(f"SELECT * FROM {table}")))


async def test_lookup_recorded_and_on_the_handoff_card(tmp_path):
    svc = CallServices.build(CallsSettings(worker_id="w1"), tmp_path)
    await svc.start()
    try:
        watch = svc.bus.subscribe(None)
        call = ScriptedCall(svc.bus, "call-dossier", worker="w1")
        await call.start()
        await call.say("Où en est mon dossier ?", "Quel est son numéro ?")
        await call.say("C'est le IDF 2025 000 123", "J'ai noté le dossier I, D, F, deux mille vingt-cinq, zéro zéro "
                       "zéro un deux trois. Est-ce bien cela ?")
        await call.say("oui", "Quel est le code postal ?")
        told = "Je ne peux rien vous indiquer avec ces informations."
        await call.pub("lookup", tool="getDossierStatus", outcome="not_found", dossier="IDF-2025-••••23",
                       via="direct", ms=12, told=told + " IDF-2025-000123", turn=3)
        await call.say("soixante-quinze zéro onze", told)
        await call.say("je veux parler à un conseiller", "Je vous passe un conseiller, ne quittez pas.")
        await call.pub("transfer", queue="aides", target="aides", reason="caller_request", status="accepted")
        ev = None
        while ev is None or ev.type != "handoff":
            ev = await watch.get(10)
        await call.end("transfer")
        await wait_for(lambda: not svc.store.get_call("call-dossier")["live"])

        stored = dump_store(svc.store)
        assert "000123" not in stored and "000 123" not in stored and "[DOSSIER]" in stored
        lookups = svc.store.events("call-dossier", ["lookup"])
        assert len(lookups) == 1 and lookups[0]["data"]["outcome"] == "not_found"
        card = ev.data["card"]
        assert card["dossier"]["reference"] == "IDF-2025-••••23"
        assert card["dossier"]["told"].startswith(told)
        assert "Dossier IDF-2025-••••23 consulté" in card["summary"]
        assert not re.search(r"000\s?123", str(card))
        board = LiveBoard(svc.store, svc.bus)
        shown = board.apply(CallEvent("call-dossier", "lookup", {"dossier": "IDF-2025-••••23", "outcome": "found",
                                                                   "told": "Votre dossier IDF 2025 000123 est payé."}))
        assert shown is not None and shown.type == "lookup" and "000123" not in str(shown.data)
        assert shown.data["dossier"] == "IDF-2025-••••23"
        await watch.close()
    finally:
        await svc.stop()
