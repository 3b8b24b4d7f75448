"""Monitor access control: anonymous and wrong roles refused, CSRF and origin checks on actions,
login brute force slowed, secure cookie flags, WebSocket handshakes refused."""

import sys
from pathlib import Path

import httpx
import pytest
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import PASSWORDS, ScriptedCall, ScriptedSession, monitor_app, wait_for  # noqa: E402

from voicebot.monitor.settings import MonitorSettings  # noqa: E402
from voicebot.call import CallInfo  # noqa: E402

SUPERVISOR_PAGES = ["/monitor", "/monitor/calls/c1", "/monitor/history"]
AGENT_PAGES = ["/agent", "/agent/handoffs/h1"]
SUPERVISOR_API = ["/api/calls", "/api/calls/c1", "/api/history"]
AGENT_API = ["/api/me", "/api/handoffs", "/api/handoffs/h1"]
ACTIONS = ["/api/calls/c1/transfer", "/api/calls/c1/hangup"]


@pytest.fixture
async def app(tmp_path):
    async with monitor_app(tmp_path, monitor_settings=MonitorSettings(login_max_failures=3, login_delay_s=0.0)) as a:
        call = ScriptedCall(a.bus, "c1", worker="worker-test")
        session = ScriptedSession(CallInfo("c1", "ws-pcm", "+33612345678"))
        a.services.control.register(session)
        await call.start()
        await call.say("Quels sont les horaires du lycée ?", "Le lycée ouvre à 8 h.")
        await wait_for(lambda: a.ctx.board.snapshot("c1") and a.ctx.board.snapshot("c1")["turns"] == 1)
        a.session = session
        yield a


async def test_anonymous_is_refused_everywhere(app):
    async with httpx.AsyncClient(base_url=app.base_url) as anon:
        for path in SUPERVISOR_PAGES + AGENT_PAGES:
            r = await anon.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
        for path in SUPERVISOR_API + AGENT_API:
            r = await anon.get(path)
            assert r.status_code == 401 and r.json()["detail"] == "Connexion requise.", path
        for path in ACTIONS:
            assert (await anon.post(path, data={"queue": "accueil"})).status_code == 401
    assert app.session.transfers == [] and app.session.hangups == []


async def test_agent_gets_403_on_supervisor_routes(app):
    agent = await app.login("agent")
    for path in SUPERVISOR_PAGES:
        r = await agent.get(path)
        assert r.status_code == 403 and "Accès refusé" in r.text, path
    for path in SUPERVISOR_API:
        assert (await agent.get(path)).status_code == 403, path
    csrf = (await agent.get("/api/me")).json()["csrf_token"]
    for path in ACTIONS:
        assert (await agent.post(path, data={"queue": "accueil"}, headers={"X-CSRF-Token": csrf})).status_code == 403
    for path in ["/agent", "/api/handoffs"]:
        assert (await agent.get(path)).status_code == 200
    assert app.session.transfers == []
    await agent.aclose()


async def test_supervisor_reads_calls(app):
    sup = await app.login("sup")
    calls = (await sup.get("/api/calls")).json()
    assert [c["id"] for c in calls] == ["c1"]
    assert {"id", "state", "started_at", "turns"} <= set(calls[0]) and calls[0]["turns"] == 1
    assert calls[0]["caller"] == "06 •••••• 78"
    detail = (await sup.get("/api/calls/c1")).json()
    assert detail["turns_detail"][0]["bot_text"] == "Le lycée ouvre à 8 h."
    assert (await sup.get("/api/calls/nope")).status_code == 404
    r = await sup.get("/monitor")
    assert r.status_code == 200 and "Appels en cours" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"] and r.headers["x-frame-options"] == "DENY"
    await sup.aclose()


async def test_actions_need_csrf_and_same_origin(app):
    sup = await app.login("sup")
    assert (await sup.post("/api/calls/c1/transfer", data={"queue": "accueil"})).status_code == 403
    r = await sup.post("/api/calls/c1/transfer", data={"queue": "accueil", "csrf_token": "forged"})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert (await sup.post("/api/calls/c1/hangup")).status_code == 403
    assert (await sup.post("/logout")).status_code == 403
    csrf = (await sup.get("/api/me")).json()["csrf_token"]
    r = await sup.post("/api/calls/c1/transfer", data={"queue": "accueil", "csrf_token": csrf},
                       headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["detail"] == "Origine refusée."
    assert app.session.transfers == [] and app.session.hangups == []
    r = await sup.post("/api/calls/c1/transfer", data={"queue": "inconnue", "csrf_token": csrf})
    assert r.status_code == 400 and "File d'attente inconnue" in r.json()["detail"]
    r = await sup.post("/api/calls/c1/transfer", data={"queue": "aides", "csrf_token": csrf})
    assert r.status_code == 200 and r.json() == {"status": "accepted", "queue": "aides"}
    assert app.session.transfers == [("aides", "aides")]
    # the session's token works as a header too; logout ends the session
    assert (await sup.post("/api/calls/c1/hangup", headers={"X-CSRF-Token": csrf})).json() == {"status": "done"}
    assert app.session.hangups == ["supervisor"]
    r = await sup.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert (await sup.get("/api/calls")).status_code == 401
    await sup.aclose()


async def test_login_brute_force_is_slowed(app):
    async with httpx.AsyncClient(base_url=app.base_url) as c:
        for _ in range(3):
            r = await c.post("/login", data={"username": "sup", "password": "wrong"})
            assert r.status_code == 401 and "incorrect" in r.text
        r = await c.post("/login", data={"username": "sup", "password": PASSWORDS["sup"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "Trop de tentatives" in r.text
        assert "vb_session" not in r.headers.get("set-cookie", "")
        # another account is not locked by attacks on this one
        r = await c.post("/login", data={"username": "agent", "password": PASSWORDS["agent"]})
        assert r.status_code == 303 and r.headers["location"] == "/agent"


async def test_session_cookie_flags(app):
    async with httpx.AsyncClient(base_url=app.base_url) as c:
        r = await c.post("/login", data={"username": "sup", "password": PASSWORDS["sup"]})
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
        r = await c.post("/login", data={"username": "sup", "password": PASSWORDS["sup"]},
                         headers={"X-Forwarded-Proto": "https"})
        assert "; secure" in r.headers["set-cookie"].lower()
        r = await c.post("/login", data={"username": "sup", "password": PASSWORDS["sup"], "next": "//evil.example/"})
        assert r.headers["location"] == "/monitor"  # no open redirect


async def test_websockets_refuse_anonymous_wrong_role_and_foreign_origin(app):
    ws_base = app.base_url.replace("http", "ws")
    for path in ["/monitor/ws", "/agent/ws", "/monitor/ws/listen/c1"]:
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(ws_base + path):
                pass
    agent = await app.login("agent")
    cookie = f"vb_session={agent.cookies['vb_session']}"
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_base + "/monitor/ws", additional_headers={"Cookie": cookie}):
            pass
    async with websockets.connect(ws_base + "/agent/ws", additional_headers={"Cookie": cookie}) as ws:
        assert '"ready"' in await ws.recv()
    sup = await app.login("sup")
    cookie = f"vb_session={sup.cookies['vb_session']}"
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_base + "/monitor/ws", origin="http://evil.example",
                                      additional_headers={"Cookie": cookie}):
            pass
    await agent.aclose()
    await sup.aclose()
