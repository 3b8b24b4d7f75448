"""Recorder: bus -> store with redaction, alerts and handoff cards; a killed worker's call ends abnormally."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import ScriptedCall, monitor_app, wait_for  # noqa: E402

from voicebot.calls.runtime import CallServices  # noqa: E402
from voicebot.calls.settings import CallsSettings  # noqa: E402
from voicebot.calls.store import CallStore  # noqa: E402

PII = {
    "phone": "06 12 34 56 78",
    "phone_intl": "+33 6 98 76 54 32",
    "email": "claire.martin@example.fr",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "card": "4111 1111 1111 1111",
    "nir": "2 85 05 78 006 084 36",
}


def dump_store(store: CallStore) -> str:
    with store.engine.connect() as conn:
        parts = []
        for table in ("calls", "turns", "events", "handoffs"):
            parts += [json.dumps([str(v) for v in row], ensure_ascii=False)
                      for row in conn.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(parts)


async def test_scripted_call_stored_redacted_with_alerts_and_handoff(tmp_path):
    svc = CallServices.build(CallsSettings(worker_id="w1"), tmp_path)
    await svc.start()
    try:
        handoffs = svc.bus.subscribe(None)
        call = ScriptedCall(svc.bus, "call-pii", caller="+33612345678", worker="w1")
        await call.start()
        await call.say(f"Bonjour, je m'appelle Claire, mon numéro est le {PII['phone']} et mon mail {PII['email']}",
                       "Bonjour Claire, que puis-je faire pour vous ?")
        await call.say(f"Je veux vérifier mon IBAN {PII['iban']} pour l'aide au permis",
                       "L'aide au permis de conduire est versée sur votre compte. Elle vaut 1 300 euros.",
                       sources=[{"title": "Aide au permis de conduire"}])
        await call.say(f"Ma carte {PII['card']}, sécu {PII['nir']}, rappelez-moi au {PII['phone_intl']}",
                       "Je n'ai pas compris.", guard="no_answer")
        await call.say("C'est inadmissible, je veux parler à un conseiller", "Je vous transfère.")
        await call.pub("transfer", queue="aides", target="aides", reason="caller_request", status="accepted")
        ev = None
        while ev is None or ev.type != "handoff":
            ev = await handoffs.get(10)
        await call.end("transfer")
        await wait_for(lambda: not svc.store.get_call("call-pii")["live"])

        stored = dump_store(svc.store)
        for kind, value in PII.items():
            digits = re.sub(r"\D", "", value)
            assert value not in stored, kind
            if digits:
                assert digits not in re.sub(r"[^\d\n]", "", stored), kind
        assert "[TÉLÉPHONE]" in stored and "[E-MAIL]" in stored and "[IBAN]" in stored

        c = svc.store.get_call("call-pii")
        assert c["turns"] == 4 and c["transferred"] and c["end_reason"] == "transfer"
        assert c["caller"] == "06 •••••• 78"
        assert set(c["alerts"]) == {"person_requested", "anger"}
        card = ev.data["card"]
        assert card["reason"] == "caller_request" and card["queue"] == "aides"
        assert card["facts"][0]["sources"] == ["Aide au permis de conduire"]
        assert len(card["transcript"]) == 8
        assert svc.store.get_handoff(card["id"])["call_id"] == "call-pii"
        await handoffs.close()
    finally:
        await svc.stop()


async def test_raw_text_only_when_configured(tmp_path):
    svc = CallServices.build(CallsSettings(worker_id="w1", store_raw_text=True), tmp_path)
    await svc.start()
    try:
        call = ScriptedCall(svc.bus, "raw", worker="w1")
        await call.start()
        await call.say(f"mon numéro {PII['phone']}", "Noté.")
        turns = await wait_for(lambda: svc.store.turns("raw", include_raw=True))
        assert turns[0]["caller_text"] == "mon numéro [TÉLÉPHONE]"
        assert turns[0]["caller_text_raw"] == f"mon numéro {PII['phone']}"
    finally:
        await svc.stop()


async def test_killed_worker_keeps_finished_turns_and_call_ends_abnormally(tmp_path):
    url = f"sqlite:///{tmp_path}/calls.sqlite3"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("calls_worker_proc.py")), url,
                             "worker-doomed", "call-crash", "3"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        assert line.strip() == "RECORDED"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    # a surviving worker (another process in real life) notices the missing heartbeat
    settings = CallsSettings(store_url=url, worker_id="worker-survivor", lease_s=1.0, heartbeat_s=0.2)
    async with monitor_app(tmp_path, calls_settings=settings) as app:
        sup = await app.login("sup")
        detail = await wait_for(lambda: _ended(sup), timeout=10)
        assert detail["ended_abnormally"] is True and detail["end_reason"] == "worker_lost"
        assert [t["caller_text"] for t in detail["turns_detail"]] == [
            f"Question numéro {i} sur les transports scolaires ?" for i in range(3)]
        assert (await sup.get("/api/calls")).json() == []  # no longer listed as live
        page = (await sup.get("/monitor/calls/call-crash")).text
        assert "Appel terminé anormalement" in page
        await sup.aclose()


async def _ended(client):
    r = await client.get("/api/calls/call-crash")
    d = r.json()
    return d if r.status_code == 200 and not d["live"] else None
