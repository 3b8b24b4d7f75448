"""The dialogue manager's decisions with a scripted answerer (pure logic): hints, follow-ups,
clarification, offers, goodbye, repeat, DTMF and pluggable flows."""

from voicebot.dialogue.flow import Flow, FlowReply
from voicebot.dialogue.manager import GOODBYE, TRANSFER, DialogueManager
from voicebot.llm.client import AnswerMeta


class Scripted:
    """Answers with the scheme hint it was given (or the one it 'finds'), offering the conditions."""

    def __init__(self, found=None, no_answer=False):
        self.calls = []
        self.found, self.no_answer = found, no_answer

    async def stream(self, question, history, meta: AnswerMeta):
        self.calls.append((question, meta.scheme, meta.facet))
        if self.no_answer:
            meta.fallback, meta.offer_human = "no_answer", True
            yield "Je n'ai pas cette information. Voulez-vous un conseiller ?"
            return
        meta.scheme = meta.scheme or self.found
        meta.offer, meta.queue = "conditions", "transport"
        yield f"Réponse sur {meta.scheme}."


async def turn(dm, text):
    reply = await dm.respond(text)
    spoken = [p async for p in reply.pieces] if reply.pieces is not None else [reply.speech]
    reply.commit(spoken)
    return reply, " ".join(spoken)


async def test_follow_up_keeps_the_scheme_and_switches_audience():
    answerer = Scripted(found="imagine-r")
    dm = DialogueManager(answerer)
    await turn(dm, "combien coûte imagine R pour un lycéen")
    assert dm.state.scheme == "imagine-r"
    reply, _ = await turn(dm, "et pour un enfant de cinq ans ?")
    assert reply.action == "answer" and answerer.calls[-1][1] == "imagine-r-junior"
    reply, _ = await turn(dm, "et à l'année ?")
    assert answerer.calls[-1][1] == "imagine-r-junior"


async def test_new_question_is_not_a_follow_up():
    answerer = Scripted(found="navigo")
    dm = DialogueManager(answerer)
    await turn(dm, "c'est combien le navigo")
    await turn(dm, "quel temps fera-t-il demain à Paris")
    assert answerer.calls[-1][1] is None  # no scheme forced on an unrelated question


async def test_vague_question_gets_a_clarifying_question_then_the_answer():
    answerer = Scripted()
    dm = DialogueManager(answerer)
    reply, said = await turn(dm, "c'est combien le forfait")
    assert reply.action == "clarify" and "Navigo" in said and not answerer.calls
    reply, _ = await turn(dm, "le navigo")
    assert reply.action == "answer" and answerer.calls[-1][1] == "navigo"
    assert "combien" in answerer.calls[-1][0]  # the original question is answered


async def test_yes_to_the_offer_asks_for_that_facet():
    answerer = Scripted(found="permis-b")
    dm = DialogueManager(answerer)
    await turn(dm, "l'aide au permis c'est combien")
    reply, _ = await turn(dm, "oui")
    assert reply.action == "answer" and answerer.calls[-1][1:] == ("permis-b", "conditions")


async def test_no_answer_offer_then_yes_transfers():
    dm = DialogueManager(Scripted(no_answer=True))
    await turn(dm, "la piscine est ouverte ?")
    reply, said = await turn(dm, "oui s'il vous plaît")
    assert reply.action == "transfer" and reply.reason == "no_answer" and said == TRANSFER


async def test_goodbye_hangs_up_politely_and_repeat_says_it_again():
    dm = DialogueManager(Scripted(found="navigo"))
    _, first = await turn(dm, "c'est combien le navigo")
    reply, said = await turn(dm, "vous pouvez répéter ?")
    assert reply.action == "answer" and said == first
    reply, said = await turn(dm, "merci beaucoup, au revoir")
    assert reply.action == "hangup" and said == GOODBYE


async def test_mention_of_an_adviser_is_answered_not_transferred():
    answerer = Scripted(found="permis-b")
    dm = DialogueManager(answerer)
    reply, _ = await turn(dm, "le conseiller général m'a dit que la région aidait pour le permis")
    assert reply.action == "answer" and answerer.calls


async def test_dtmf_zero_transfers_other_digits_do_nothing():
    dm = DialogueManager(Scripted())
    assert await dm.dtmf("5") is None
    reply = await dm.dtmf("0")
    assert reply.action == "transfer" and reply.reason == "dtmf"


class DossierFlow:
    """A two-step flow: asks for a number (by voice or keypad), then answers and ends."""

    name = "dossier"

    def __init__(self):
        self.inputs = []

    def detects(self, text):
        return "dossier" in text

    async def start(self, text):
        return FlowReply(speech="Quel est votre numéro de dossier ?", action="clarify")

    async def on_utterance(self, text):
        self.inputs.append(text)
        return FlowReply(speech="Votre dossier est en cours d'instruction.", done=True, audit={"status": "ok"})

    async def on_dtmf(self, digits):
        self.inputs.append(digits)
        return FlowReply(speech="Votre dossier est en cours d'instruction.", done=True)


async def test_flow_gets_every_input_until_done():
    flow = DossierFlow()
    assert isinstance(flow, Flow)
    answerer = Scripted(found="navigo")
    dm = DialogueManager(answerer, [flow])
    reply, said = await turn(dm, "où en est mon dossier")
    assert reply.action == "clarify" and dm.state.flow is flow
    reply = await dm.dtmf("1234#")
    reply.commit([reply.speech])
    assert flow.inputs == ["1234#"] and dm.state.flow is None and not answerer.calls
    reply, _ = await turn(dm, "au revoir")
    assert reply.action == "hangup"


async def test_flow_utterance_goes_to_the_flow_not_the_answerer():
    flow = DossierFlow()
    answerer = Scripted(found="navigo")
    dm = DialogueManager(answerer, [flow])
    await turn(dm, "je voudrais savoir où en est mon dossier")
    reply, said = await turn(dm, "conseiller")  # even a transfer word goes to the active flow
    assert flow.inputs == ["conseiller"] and reply.meta.sources == [{"flow": "dossier", "status": "ok"}]
    assert not answerer.calls


def test_build_flows_returns_a_list():
    from voicebot.dialogue.factory import build_flows

    assert build_flows(None) == []


async def test_an_acknowledgement_before_a_follow_up_keeps_the_scheme():
    answerer = Scripted(found="navigo")
    dm = DialogueManager(answerer)
    await turn(dm, "le passe navigo il coûte combien par mois")
    reply, _ = await turn(dm, "d'accord et pour l'année entière")
    assert reply.action == "answer" and answerer.calls[-1][1] == "navigo"
    dm2 = DialogueManager(Scripted(found="navigo"))
    await turn(dm2, "le passe navigo il coûte combien par mois")
    await turn(dm2, "d'accord quel temps fera-t-il demain")  # not a follow-up: no scheme forced
    assert dm2.answerer.calls[-1][1] is None


async def test_a_request_for_some_aid_gets_the_domains_then_the_answer():
    answerer = Scripted()
    dm = DialogueManager(answerer)
    reply, said = await turn(dm, "bonjour c'est pour une aide")
    assert reply.action == "clarify" and "vélo" in said and not answerer.calls
    reply, _ = await turn(dm, "pour le vélo électrique")
    assert reply.action == "answer" and answerer.calls[-1][1] == "velo"
    reply, _ = await turn(DialogueManager(answerer), "quelle aide pour un vélo électrique")
    assert reply.action == "answer"  # a named domain is answered at once


async def test_the_transport_domain_narrows_to_the_transport_passes():
    dm = DialogueManager(Scripted())
    await turn(dm, "je voudrais un renseignement")
    reply, said = await turn(dm, "les transports")
    assert reply.action == "clarify" and "Navigo" in said


def _turns(n: int) -> list[dict[str, str]]:
    return [m for i in range(n) for m in ({"role": "user", "content": f"q{i}"},
                                          {"role": "assistant", "content": f"a{i}"})]


def test_prompt_history_is_capped_and_dropped_in_blocks_so_the_prefix_holds():
    from voicebot.dialogue.manager import prompt_history

    firsts = []
    for n in range(1, 16):
        kept = prompt_history(_turns(n), 6)
        assert len(kept) % 2 == 0 and len(kept) // 2 <= 6
        assert kept == _turns(n)[-len(kept):]  # the most recent turns, in order
        assert len(kept) // 2 >= min(n, 4)  # never fewer than the window less one block
        firsts.append(kept[0]["content"])
    # The oldest turn kept changes once every 3 answers, not on every answer past the sixth.
    assert firsts[:6] == ["q0"] * 6
    assert firsts[6:9] == ["q3"] * 3 and firsts[9:12] == ["q6"] * 3 and firsts[12:15] == ["q9"] * 3
    assert prompt_history(_turns(5), 0) == []
    assert prompt_history(_turns(3), 1) == _turns(3)[-2:]
