"""Dashboard and knowledge page with real calls: `voicebot serve` (extractive answers, one call at a time)
and real WebSocket callers speaking the shared French recordings: one the bot usually answers from the
documents (012, "quelle heure est-il": retrieval often finds a passage, wrongly; whether it does depends on
the transcript, so the expected figures are what the callers heard),
one it cannot answer (029, the lights), one it cannot answer that a supervisor transfers (013, the
weather), and one refused because the only call slot is taken. Then a supervisor reads the figures in
headless Chromium and a document owner marks an unanswered topic handled. Screenshots go to
docs/screenshots/ (committed: 1440 px wide, at most 1800 px tall) and test-artifacts/ (whole pages).
(espeak-ng questions are not used: the PyPI Whisper base model cannot transcribe them.)"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import httpx
import pytest
import websockets
from core_support import ServerProcess, clip, run_cli
from playwright.async_api import async_playwright, expect

from voicebot.telephony.caller import Caller

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1440, "height": 900}  # a common office screen: the committed screenshots are this size
USERS = {"chef": ("supervisor", "chef-mot-de-passe-1"), "redac": ("documentation", "redac-mot-de-passe-1")}


async def login_page(browser, base: str, name: str):
    context = await browser.new_context(locale="fr-FR", viewport=VIEWPORT)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(base + "/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", USERS[name][1])
    await page.click("button[type=submit]")
    return page, errors


MAX_SHOT_HEIGHT = 1800  # px: a committed screenshot is a screen or two, not a page as tall as its tables


async def screenshots(page, shots: Path, name: str, down_to: str | None = None) -> None:
    """The committed screenshot: what the 1440x900 screen shows, or (down_to) the page from its top to the
    bottom of that element (topics, then the first discrepancies); the whole page goes to test-artifacts/."""
    await page.evaluate("window.scrollTo(0, 0)")
    if down_to is None:
        await page.screenshot(path=str(shots / name))
    else:
        bottom = await page.locator(down_to).evaluate("(e) => e.getBoundingClientRect().bottom + window.scrollY")
        height = min(MAX_SHOT_HEIGHT, int(bottom) + 16)
        await page.screenshot(path=str(shots / name), full_page=True,
                              clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height})
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)
    width, height = struct.unpack(">II", (shots / name).read_bytes()[16:24])  # PNG IHDR
    assert width == VIEWPORT["width"] and VIEWPORT["height"] <= height <= MAX_SHOT_HEIGHT, (name, width, height)


async def refused_call(url: str) -> int:
    """A call placed while the only slot is taken: the server closes it with 1013 (try again later)."""
    async with websockets.connect(url + "?rate=8000") as ws:
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
    return ws.close_code


async def idle(srv: ServerProcess) -> None:
    """The only call slot is free again (the server finishes a call a moment after the caller hangs up)."""
    async with httpx.AsyncClient(base_url=srv.url) as c:
        for _ in range(1200):
            if (await c.get("/healthz")).json()["calls"] == 0:
                await asyncio.sleep(0.5)
                return
            await asyncio.sleep(0.1)
    raise TimeoutError("the server still has a call in progress")


async def place_calls(srv: ServerProcess) -> dict:
    answered = await Caller(srv.ws_pcm, [clip("012.wav")], caller_id="0611111111", answer_timeout_s=300).run()
    await idle(srv)
    unanswered = await Caller(srv.ws_pcm, [clip("029.wav")], caller_id="0622222222", answer_timeout_s=300).run()
    await idle(srv)
    # three turns keep the caller on the line; the supervisor transfers the call after the first one
    transfer_task = asyncio.create_task(Caller(srv.ws_pcm, [clip("013.wav"), clip("001.wav"), clip("002.wav")],
                                               caller_id="0633333333", answer_timeout_s=300).run())
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as sup:
        r = await sup.post("/login", data={"username": "chef", "password": USERS["chef"][1]},
                           headers={"Accept": "application/json"})
        csrf = r.json()["csrf_token"]
        for _ in range(1200):
            live = (await sup.get("/api/calls")).json()
            if live and live[0]["turns"] >= 1:
                break
            await asyncio.sleep(0.1)
        code = await refused_call(srv.ws_pcm)  # while the only slot is taken
        r = await sup.post(f"/api/calls/{live[0]['id']}/transfer", json={"queue": "aides"},
                           headers={"X-CSRF-Token": csrf})
        assert r.json() == {"status": "accepted", "queue": "aides"}
    transferred = await asyncio.wait_for(transfer_task, 600)
    return {"answered": answered, "unanswered": unanswered, "transferred": transferred, "refused_code": code}


@pytest.mark.timeout(1200)
async def test_dashboard_and_knowledge_page_with_real_calls(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shots = ROOT / "docs" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    for name, (role, password) in USERS.items():
        res = run_cli("users", "add", name, "--role", role, "--data-dir", str(tmp_path), input=password + "\n")
        assert res.returncode == 0, res.stderr
    t0 = time.time() - 5
    # no hang-up on silence: on a loaded machine a slow turn must not end a call before the transfer
    srv = ServerProcess(tmp_path, env={"VOICEBOT_LLM__BACKEND": "extractive",
                                       "VOICEBOT_SERVER__MAX_CONCURRENT_CALLS": "1",
                                       "VOICEBOT_PIPELINE__SILENCE_TIMEOUT_S": "600"}).start()
    try:
        calls = await place_calls(srv)
        assert calls["refused_code"] == 1013
        assert calls["answered"].answered and calls["unanswered"].answered
        assert calls["transferred"].hangup_reason == "transfer"
        seen = await check_api(srv, t0, calls)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                await check_dashboard(browser, srv, shots, seen)
                await check_knowledge_page(browser, srv, shots)
            finally:
                await browser.close()
    finally:
        srv.stop()


NO_ANSWER = "Je n'ai pas cette information"


def heard(calls: dict) -> dict[str, list[dict]]:
    """The turns each caller heard, split by what the bot said: the figures must say the same."""
    turns = [e for c in ("answered", "unanswered", "transferred") for e in calls[c].events if e.get("event") == "turn"]
    return {"no_answer": [t for t in turns if NO_ANSWER in t.get("bot_text", "")],
            "answered": [t for t in turns if t.get("bot_text") and NO_ANSWER not in t["bot_text"]]}


async def check_api(srv: ServerProcess, t0: float, calls: dict) -> dict:
    """What the store says about the calls, against what the callers heard."""
    h = heard(calls)
    assert len(h["no_answer"]) >= 2  # the lights and the weather at least
    async with httpx.AsyncClient(base_url=srv.url, timeout=30) as sup:
        await sup.post("/login", data={"username": "chef", "password": USERS["chef"][1]})
        window = {"from": str(t0), "to": str(time.time() + 60)}
        for _ in range(100):  # the recorder writes the last call's end a moment after the caller hangs up
            s = (await sup.get("/api/stats", params=window)).json()
            if s["received"] - s["ended"] == 0 and s["received"] == 3:
                break
            await asyncio.sleep(0.2)
        figures = (s["received"], s["contained"], s["transferred"], s["abandoned"], s["refused_capacity"])
        assert figures == (3, 2, 1, 0, 1)
        assert s["transfers"] == [{"reason": "supervisor", "queue": "aides", "calls": 1}]
        expected_paths = {"no_answer": len(h["no_answer"]), "extractive": len(h["answered"])}
        assert s["answers_by_path"] == {k: n for k, n in expected_paths.items() if n}
        assert s["latency_ms"]["p50"] > 0 and s["latency_ms"]["p95"] >= s["latency_ms"]["p50"]
        history = {r["id"]: r for r in (await sup.get("/api/history")).json()}
        ids = [calls[c].call_id for c in ("answered", "unanswered", "transferred")]
        schemes = sorted({history[i]["scheme"] for i in ids} - {""})
        assert sorted(x["scheme"] for x in s["top_schemes"]) == schemes and len(schemes) <= len(h["answered"])
        detail = (await sup.get(f"/api/calls/{calls['unanswered'].call_id}")).json()
        assert detail["turns_detail"][0]["guard_label"] == "Pas de réponse trouvée"
        assert detail["turns_detail"][0]["latency_text"].startswith("Réponse entendue après")
        for _ in range(600):  # the server groups new questions in the background
            g = (await sup.get("/api/gaps", params=window)).json()
            if g["questions"] and not g["pending"]:
                break
            await asyncio.sleep(0.2)
        texts = " ".join(e["text"].lower() for t in g["topics"] for e in t["examples"])
        assert "lumières" in texts and "temps" in texts
        assert g["questions"] == len(h["no_answer"]) and {k for t in g["topics"] for k in t["kinds"]} == {"no_answer"}
    return {"schemes": schemes, "answered": len(h["answered"])}


async def check_dashboard(browser, srv: ServerProcess, shots: Path, seen: dict) -> None:
    page, errors = await login_page(browser, srv.url, "chef")
    await expect(page).to_have_url(srv.url + "/monitor")
    await page.get_by_role("link", name="Tableau de bord").click()
    await expect(page.locator("#kpi-received .kpi-value")).to_have_text("3")
    await expect(page.locator("#kpi-contained .kpi-sub")).to_have_text("66,7 % des appels")
    await expect(page.locator("#kpi-transferred .kpi-value")).to_have_text("1")
    await expect(page.locator("#kpi-refused .kpi-value")).to_have_text("1")
    await expect(page.locator("#kpi-latency .kpi-sub")).to_contain_text("95 % des réponses en moins de")
    await expect(page.locator("#paths")).to_contain_text("Pas de réponse trouvée")
    if seen["answered"]:
        await expect(page.locator("#paths")).to_contain_text("Extrait de la documentation")
    for scheme in seen["schemes"]:
        await expect(page.locator("#schemes")).to_contain_text(scheme)
    await expect(page.locator("#transfers")).to_contain_text("décision d'un superviseur")
    drawn = await page.evaluate("""() => ['chart-calls', 'chart-rates', 'chart-latency'].map((id) => {
        const c = Chart.getChart(document.getElementById(id));
        if (!c) return -1;
        return c.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null && v > 0).length, 0); })""")
    assert all(n > 0 for n in drawn), drawn
    async with page.expect_download() as dl_info:
        await page.get_by_role("link", name="Exporter en CSV").click()
    csv = Path(await (await dl_info.value).path()).read_text(encoding="utf-8-sig")
    assert csv.startswith("Début;Appels reçus;") and sum(int(r.split(";")[1]) for r in csv.splitlines()[1:]) == 3
    await screenshots(page, shots, "monitor-dashboard.png")
    await page.goto(srv.url + "/monitor/history")
    await page.locator("#history tr[data-id] a").first.click()
    await expect(page.locator("#transcript li").first).to_contain_text("Réponse entendue après")
    await expect(page.locator("#transcript")).not_to_contain_text("Garde")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await page.context.close()


async def check_knowledge_page(browser, srv: ServerProcess, shots: Path) -> None:
    page, errors = await login_page(browser, srv.url, "redac")
    await expect(page).to_have_url(srv.url + "/monitor/connaissances")
    topic = page.locator("article.topic", has_text="lumières")
    await expect(topic).to_have_count(1, timeout=60_000)
    await expect(topic).to_contain_text("1 question")
    await expect(topic).to_contain_text("pas de réponse : 1")
    await expect(topic.locator(".status-label")).to_have_text("À traiter")
    await expect(page.locator("#diffs tbody tr", has_text="imagine-r").first).to_contain_text("0 appel en 30 jours")
    await expect(page.locator("#diffs tbody tr")).not_to_have_count(0)
    await screenshots(page, shots, "monitor-knowledge.png", down_to="#diffs tbody tr:nth-child(3)")
    await topic.get_by_role("button", name="Document ajouté").click()
    await expect(topic.locator(".status-label")).to_have_text("Document ajouté")
    await expect(topic.locator(".after-mark")).to_have_text("Aucune question depuis : les appels ont cessé")
    await page.screenshot(path=str(ARTIFACTS / "monitor-knowledge-marked.png"), full_page=True)
    for path in ("/monitor", "/monitor/tableau-de-bord", "/monitor/history"):
        r = await page.goto(srv.url + path)
        assert r.status == 403, path
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await page.context.close()
