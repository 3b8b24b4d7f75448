"""The monitor with a real call: `voicebot serve` + a real WebSocket caller (the committed French clips),
a supervisor in headless Chromium watching it live and clicking "Transférer", an agent receiving the
handoff card. Screenshots in test-artifacts/."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from core_support import ServerProcess, clip, run_cli, transcripts
from voicebot.french import phrases
from voicebot.telephony.caller import Caller

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
USERS = {"chef": ("supervisor", "chef-mot-de-passe-1"), "agent1": ("agent", "agent-mot-de-passe-1")}


async def _login(browser, base: str, name: str):
    context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(base + "/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", USERS[name][1])
    await page.click("button[type=submit]")
    return page


# Clip 001 says "conseiller général": heard as "conseiller", the bot itself transferred the call to the
# default queue before the supervisor's click (the flaky failure). The caller must not ask for a person.
CALLER_CLIPS = ("029.wav", "002.wav", "003.wav")


def test_the_caller_never_asks_for_a_person():
    said = transcripts()
    assert not [name for name in CALLER_CLIPS if phrases.asks_for_human(said[name])]
    assert phrases.asks_for_human(transcripts()["001.wav"])  # why 001 is not one of them


@pytest.mark.timeout(300)
async def test_supervisor_watches_a_real_call_and_transfers_it(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    for name, (role, password) in USERS.items():
        res = run_cli("users", "add", name, "--role", role, "--data-dir", str(tmp_path), input=password + "\n")
        assert res.returncode == 0, res.stderr
    srv = ServerProcess(tmp_path).start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                sup = await _login(browser, srv.url, "chef")
                await expect(sup).to_have_url(srv.url + "/monitor")
                agent = await _login(browser, srv.url, "agent1")
                await expect(agent).to_have_url(srv.url + "/agent")
                await expect(agent.locator("#ws-status")).to_have_text("En direct")

                # a real caller, three turns; the supervisor's transfer will cut it short
                caller = Caller(srv.ws_pcm, [clip(name) for name in CALLER_CLIPS],
                                caller_id="0612345678", answer_timeout_s=40)
                call_task = asyncio.create_task(caller.run())
                row = sup.locator("#calls tr[data-id]")
                await expect(row).to_have_count(1, timeout=20_000)
                await expect(row).to_contain_text("06 •••••• 78")
                await sup.screenshot(path=str(ARTIFACTS / "real-call-live-list.png"), full_page=True)
                await row.get_by_role("link", name="Voir").click()
                await expect(sup.locator("#transcript li")).to_have_count(1, timeout=60_000)
                await expect(sup.locator("#transcript li")).to_have_count(2, timeout=60_000)
                first = sup.locator("#transcript li").first
                await expect(first).to_contain_text("lumières")  # what the caller said in 029.wav
                await expect(first).to_contain_text("Réponse entendue après")
                await sup.screenshot(path=str(ARTIFACTS / "real-call-live-view.png"), full_page=True)

                await sup.select_option("#queue", "transport")
                await expect(sup.locator("#queue")).to_have_value("transport")
                await sup.get_by_role("button", name="Transférer").click()
                await expect(sup.locator("#action-status")).to_have_text("Transfert accepté")
                result = await asyncio.wait_for(call_task, 90)
                transfer = [e for e in result.events if e.get("event") == "transfer"]
                assert transfer and transfer[0]["queue"] == "transport"
                assert result.hangup_reason == "transfer"

                card = agent.locator("article.card")
                await expect(card).to_have_count(1, timeout=20_000)
                await expect(card).to_contain_text("superviseur")
                await expect(card.locator(".need")).not_to_be_empty()
                await card.locator("details summary").click()
                await expect(card.locator("details li").first).to_be_visible()
                await agent.screenshot(path=str(ARTIFACTS / "real-call-handoff-card.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        srv.stop()
