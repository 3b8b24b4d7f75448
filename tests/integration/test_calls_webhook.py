"""Handoff webhook against a real HTTP receiver: signature verifies, failures are retried with backoff."""

import asyncio
import json
import sys
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import ScriptedCall, free_port, wait_for  # noqa: E402

from voicebot.calls.runtime import CallServices  # noqa: E402
from voicebot.calls.settings import CallsSettings  # noqa: E402
from voicebot.calls.webhook import SIGNATURE_HEADER, WebhookSender, verify  # noqa: E402


async def receiver(fail_first: int, status: int = 503):
    got: list[dict] = []
    app = FastAPI()

    @app.post("/crm")
    async def crm(request: Request):
        body = await request.body()
        got.append({"t": time.monotonic(), "body": body, "sig": request.headers.get(SIGNATURE_HEADER)})
        return Response(status_code=status if len(got) <= fail_first else 204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return f"http://127.0.0.1:{port}/crm", got, server, task


async def test_retries_then_delivers_signed_body():
    url, got, server, task = await receiver(fail_first=2)
    try:
        ok = await WebhookSender(url, "crm-secret", retries=3, backoff_s=0.1).send({"call_id": "c1", "x": "é"})
        assert ok and len(got) == 3
        assert got[1]["t"] - got[0]["t"] >= 0.1 and got[2]["t"] - got[1]["t"] >= 0.2  # backoff doubles
        for g in got:
            assert verify(g["body"], "crm-secret", g["sig"])
        assert json.loads(got[-1]["body"]) == {"call_id": "c1", "x": "é"}
    finally:
        server.should_exit = True
        await task


async def test_client_error_is_final_and_unreachable_gives_up():
    url, got, server, task = await receiver(fail_first=99, status=400)
    try:
        assert await WebhookSender(url, "k", retries=3, backoff_s=0.01).send({"call_id": "c1"}) is False
        assert len(got) == 1
    finally:
        server.should_exit = True
        await task
    assert await WebhookSender(url, "k", retries=1, backoff_s=0.01, timeout_s=1).send({"a": 1}) is False


async def test_transfer_posts_the_handoff_card(tmp_path):
    url, got, server, task = await receiver(fail_first=1)
    svc = CallServices.build(CallsSettings(worker_id="w", webhook_url=url, webhook_secret="crm-secret",
                                           webhook_backoff_s=0.05), tmp_path)
    await svc.start()
    try:
        call = ScriptedCall(svc.bus, "c-hook", worker="w")
        await call.start()
        await call.say("Je voudrais m'inscrire à la cantine du lycée de Versailles", "Je n'ai pas trouvé.",
                       guard="no_answer")
        await call.pub("dtmf", digit="0")
        await call.pub("transfer", queue="lycees", target="lycees", reason="dtmf", status="accepted")
        await wait_for(lambda: len(got) == 2)
        card = json.loads(got[-1]["body"])
        assert verify(got[-1]["body"], "crm-secret", got[-1]["sig"])
        assert card["call_id"] == "c-hook" and card["reason_label"] == "L'appelant a tapé 0"
        assert card["open_questions"] == ["Je voudrais m'inscrire à la cantine du lycée de Versailles"]
    finally:
        await svc.stop()
        server.should_exit = True
        await task
