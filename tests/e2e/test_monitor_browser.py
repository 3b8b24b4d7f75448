"""Browser test (headless Debian Chromium driven by Playwright): a supervisor watches a call live and
clicks "Transférer"; an agent logged in elsewhere sees the handoff card appear. Screenshots go to
test-artifacts/. The calls are scripted CallEvents on the bus; the lead adds the `voicebot serve` +
`voicebot call` variant once the pipeline runs."""

import asyncio
import sys
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import PASSWORDS, ScriptedCall, ScriptedSession, monitor_app  # noqa: E402

from voicebot.call import CallInfo  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


async def login(browser, base_url: str, name: str):
    context = await browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(base_url + "/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    return page


@pytest.mark.timeout(120)
async def test_supervisor_transfers_and_agent_gets_card(tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    async with monitor_app(tmp_path) as app, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            sup = await login(browser, app.base_url, "sup")
            await expect(sup).to_have_url(app.base_url + "/monitor")
            await expect(sup.locator("#ws-status")).to_have_text("En direct")
            agent = await login(browser, app.base_url, "agent")
            await expect(agent).to_have_url(app.base_url + "/agent")
            await expect(agent.locator("#ws-status")).to_have_text("En direct")

            # a call starts: it appears in the live list
            session = ScriptedSession(CallInfo("call-e2e", "ws-pcm", "+33612345678"))
            app.services.control.register(session)
            call = ScriptedCall(app.bus, "call-e2e", pause=0.01)
            await call.start()
            await call.say("Bonjour, je voudrais savoir combien coûte le forfait Imagine R pour mon fils lycéen",
                           "Le forfait Imagine R scolaire coûte 24,40 euros par mois. Il se commande en ligne.",
                           sources=[{"title": "Tarifs Imagine R"}])
            row = sup.locator('#calls tr[data-id="call-e2e"]')
            await expect(row).to_be_visible()
            await expect(row).to_contain_text("06 •••••• 78")
            await expect(row).to_contain_text("Tarifs Imagine R")
            await expect(row.locator(".state")).to_have_text("Le bot répond")  # plain words, not "speaking"
            await sup.screenshot(path=str(ARTIFACTS / "monitor-live-list.png"), full_page=True)

            # live view: the transcript grows while the call goes on
            await row.get_by_role("link", name="Voir").click()
            await expect(sup.locator("#transcript li")).to_have_count(1)
            await expect(sup.locator("#transcript li").first).to_contain_text("24,40 euros")
            await expect(sup.locator("#transcript li").first).to_contain_text("Sources : Tarifs Imagine R")
            await asyncio.sleep(0.3)  # page's WebSocket is subscribed before the next turn
            await call.say("Et la région rembourse-t-elle une partie ? Mon mail est paul.durand@example.fr",
                           "Je n'ai pas trouvé cette information.", guard="skipped/no_answer",
                           latency_ms={"turn_end": 300.0, "stt_final": 520.0, "llm_first_token": 800.0,
                                       "tts_first_sentence": 820.0, "tts_first_audio": 1100.0,
                                       "bot_audio_first": 1150.0})
            await expect(sup.locator("#transcript li")).to_have_count(2)
            second = sup.locator('#transcript li[data-turn="1"]')
            await expect(second).to_contain_text("[E-MAIL]")
            await expect(second).not_to_contain_text("paul.durand")
            await expect(second).to_contain_text("Réponse entendue après 1,1 s : fin de phrase détectée 300 ms · "
                                                 "transcription 220 ms · début de la réponse 280 ms")
            await expect(second).to_contain_text("Pas de réponse trouvée")
            await expect(second).not_to_contain_text("no_answer")
            await call.say("C'est inadmissible, je veux parler à un conseiller", "Je vous mets en relation.")
            await expect(sup.locator("#alerts")).to_contain_text("Demande un conseiller")
            await expect(sup.locator("#alerts")).to_contain_text("Colère")
            await sup.screenshot(path=str(ARTIFACTS / "monitor-call-live.png"), full_page=True)

            # the supervisor transfers to the transport queue
            await sup.select_option("#queue", "transport")
            await sup.get_by_role("button", name="Transférer").click()
            await expect(sup.locator("#action-status")).to_have_text("Transfert accepté")
            await asyncio.wait_for(session.transferred.wait(), 5)
            await expect(sup.locator("#events")).to_contain_text(
                "Transfert vers la file transport (décision d'un superviseur) : accepté")
            assert session.transfers == [("transport", "transport")]
            await call.end("transfer")
            await expect(sup.locator("#ended")).to_contain_text("Appel terminé (transféré)")

            # the agent's page got the card pushed live
            card = agent.locator('article.card[data-call="call-e2e"]')
            await expect(card).to_be_visible()
            await expect(card).to_contain_text("Transfert décidé par un superviseur")
            await expect(card.locator(".need")).to_contain_text("forfait Imagine R pour mon fils lycéen")
            await expect(card.locator(".summary")).to_contain_text("Le bot a déjà répondu")
            await expect(card.locator(".facts-list")).to_contain_text("(Tarifs Imagine R)")
            await expect(card.locator(".open")).to_contain_text("rembourse")
            await card.locator("details summary").click()
            await expect(card.locator("details li")).to_have_count(6)
            await expect(card).not_to_contain_text("paul.durand")
            await agent.screenshot(path=str(ARTIFACTS / "agent-handoff-card.png"), full_page=True)

            # history: the ended call is searchable
            await sup.goto(app.base_url + "/monitor/history?q=Imagine")
            await expect(sup.locator('#history tr[data-id="call-e2e"]')).to_contain_text("transféré")
            await sup.screenshot(path=str(ARTIFACTS / "monitor-history.png"), full_page=True)
        finally:
            await browser.close()
