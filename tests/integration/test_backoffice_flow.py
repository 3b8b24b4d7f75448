"""The dossier status flow of the dialogue against the real sample back-office (its own process):
number spoken and keyed, read-back, postcode asked before anything is said, success, failures,
3 failures -> transfer offer, back-office down, slow and malformed."""

from __future__ import annotations

import re

import pytest

from backoffice_support import SampleBackoffice
from voicebot.backoffice import flow as flow_mod
from voicebot.backoffice.client import BackofficeClient
from voicebot.backoffice.flow import DossierStatusFlow
from voicebot.backoffice.settings import BackofficeSettings
from voicebot.backoffice.tools import DirectLookup

# Anything about a dossier: its scheme, status, dates, amounts, documents.
DISCLOSURE = re.compile(r"instruction|permis|chèque|payé|versé|manquant|justificatif|domicile|novembre|octobre|"
                        r"euros?|€|accept|refus|incomplet", re.I)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    with SampleBackoffice(tmp_path_factory.mktemp("bo")) as s:
        yield s


def make_flow(url: str, **kw) -> DossierStatusFlow:
    # A generous timeout: the tests share a loaded machine (the slow-service test sets its own).
    settings = BackofficeSettings(base_url=url, **{"timeout_s": 10.0, **kw})
    return DossierStatusFlow(DirectLookup(BackofficeClient(settings)), settings, call_id="test-call")


async def test_spoken_number_read_back_postcode_then_status(sample):
    f = make_flow(sample.url)
    before = sample.stats()["status_requests"]
    r = await f.start("Bonjour, je voudrais savoir où en est mon dossier")
    assert "numéro" in r.speech and r.action == "clarify" and not r.done
    r = await f.on_utterance("I D F deux mille vingt-cinq zéro zéro zéro cent vingt-trois")
    assert "I, D, F, deux mille vingt-cinq, zéro zéro zéro un deux trois" in r.speech and "bien cela" in r.speech
    assert "000123" not in r.answer  # the display text is masked
    r = await f.on_utterance("oui c'est ça")
    assert "code postal" in r.speech and not DISCLOSURE.search(r.speech)
    assert sample.stats()["status_requests"] == before  # nothing asked of the back-office before verification
    r = await f.on_utterance("quatre-vingt-treize deux cents")
    assert r.done and r.action == "answer"
    assert "en cours d'instruction" in r.speech and "le trois novembre deux mille vingt-cinq" in r.speech
    assert "justificatif de domicile" in r.speech and "espace personnel" in r.speech
    assert r.answer.startswith("Votre dossier aide au permis de conduire est en cours d'instruction depuis le 3 novembre")
    assert r.audit["tool"] == "getDossierStatus" and r.audit["outcome"] == "found"
    assert r.audit["dossier"] == "IDF-2025-••••23" and "000123" not in str(r.audit)


async def test_number_and_postcode_by_keypad(sample):
    f = make_flow(sample.url)
    await f.start("où en est ma demande de chèque numérique")
    for key in "2025000":
        assert (await f.on_dtmf(key)).speech == ""  # an unfinished entry: nothing said yet
    r = await f.on_dtmf("456#")
    assert "zéro zéro zéro quatre cinq six" in r.speech
    r = await f.on_dtmf("1")  # 1 = oui
    assert "code postal" in r.speech
    r = await f.on_dtmf("75011")
    assert r.done and "payé" in r.speech and "mille cinq cents euros" in r.speech
    assert "le quatorze octobre deux mille vingt-cinq" in r.speech
    assert r.answer == "Votre dossier chèque numérique est payé : 1\u202f500 € versés le 14 octobre 2025."


async def test_number_in_the_first_sentence_and_a_correction(sample):
    f = make_flow(sample.url)
    r = await f.start("où en est mon dossier IDF 2025 000 999")
    assert "zéro zéro zéro neuf neuf neuf" in r.speech
    r = await f.on_utterance("non, c'est IDF 2025 000 123")
    assert "zéro zéro zéro un deux trois" in r.speech
    r = await f.on_utterance("non")
    assert "Redonnez-moi le numéro" in r.speech
    r = await f.on_utterance("2025 000 123")
    assert "un deux trois" in r.speech


async def test_wrong_postcode_discloses_nothing_and_three_failures_offer_an_agent(sample):
    f = make_flow(sample.url)
    replies = [await f.start("je voudrais connaître l'état de mon dossier")]
    for _ in range(3):
        replies.append(await f.on_utterance("IDF 2025 000 123"))
        replies.append(await f.on_utterance("oui"))
        r = await f.on_utterance("75011")  # the postcode of another dossier
        replies.append(r)
        assert r.audit["outcome"] == "not_found"
    for r in replies:
        assert not DISCLOSURE.search(r.speech + r.answer), r
    # an unknown number gets the very same words as a wrong postcode
    g = make_flow(sample.url)
    await g.start("où en est mon dossier")
    await g.on_utterance("IDF 2025 000 124")
    await g.on_utterance("oui")
    assert (await g.on_utterance("93200")).speech == replies[3].speech
    last = replies[-1]
    assert "conseiller" in last.speech and not last.done
    r = await f.on_utterance("oui s'il vous plaît")
    assert r.action == "transfer" and r.done
    assert r.audit["dossier"] == "IDF-2025-••••23" and "rien n'a été communiqué" in r.audit["told"]


async def test_misunderstood_three_times_offers_an_agent_and_no_is_respected(sample):
    f = make_flow(sample.url)
    await f.start("où en est mon dossier")
    await f.on_utterance("je ne sais plus")
    await f.on_utterance("attendez")
    r = await f.on_utterance("euh")
    assert "conseiller" in r.speech
    r = await f.on_utterance("non merci")
    assert r.done and r.action == "answer" and "rappeler" in r.speech


async def test_back_office_stopped_apology_and_offer(tmp_path):
    with SampleBackoffice(tmp_path) as s:
        f = make_flow(s.url, retries=0)
        await f.start("où en est mon dossier")
        await f.on_utterance("IDF 2025 000 123")
        await f.on_utterance("oui")
    r = await f.on_utterance("93200")  # the service process is stopped
    assert "Désolé" in r.speech and "conseiller" in r.speech and "rappeler" in r.speech
    assert not DISCLOSURE.search(r.speech) and r.audit["outcome"] == "unavailable" and not r.done
    r = await f.on_utterance("oui")
    assert r.action == "transfer"


@pytest.mark.parametrize("args, outcome", [(["--delay-ms", "3000"], "timeout"), (["--fault", "malformed"], "malformed"),
                                           (["--fault", "other-dossier"], "malformed"), (["--fault", "error"], "unavailable")])
async def test_slow_or_broken_back_office(tmp_path, args, outcome):
    with SampleBackoffice(tmp_path, args=args) as s:
        f = make_flow(s.url, timeout_s=0.8, retries=0)
        await f.start("où en est mon dossier")
        await f.on_dtmf("2025000123#")
        await f.on_dtmf("1")
        r = await f.on_dtmf("93200")
        assert r.audit["outcome"] == outcome
        assert r.speech == flow_mod.UNAVAILABLE and not DISCLOSURE.search(r.speech)
        r = await f.on_utterance("non, je rappellerai")
        assert r.done and "rappeler" in r.speech


async def test_asking_for_a_person_mid_flow_transfers(sample):
    f = make_flow(sample.url)
    await f.start("où en est mon dossier")
    r = await f.on_utterance("je préfère parler à un conseiller")
    assert r.action == "transfer" and r.done


async def test_yes_with_the_postcode_in_one_breath(sample):
    f = make_flow(sample.url)
    await f.start("où en est mon dossier")
    await f.on_utterance("IDF 2025 000 456")
    r = await f.on_utterance("oui, et mon code postal c'est le 75011")
    assert r.done and "payé" in r.speech


async def test_three_wrong_read_backs_offer_an_agent(sample):
    f = make_flow(sample.url)
    before = sample.stats()["status_requests"]
    await f.start("où en est mon dossier")
    for _ in range(2):
        await f.on_utterance("IDF 2025 000 123")
        r = await f.on_utterance("non")
        assert "Redonnez-moi" in r.speech
    await f.on_utterance("IDF 2025 000 123")
    r = await f.on_utterance("non")
    assert "conseiller" in r.speech and sample.stats()["status_requests"] == before
