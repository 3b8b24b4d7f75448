"""The Responder's decisions (pure logic, scripted answerers): streaming, apology, transfer, offer accepted."""

from pipecat.tests.utils import run_test

from voicebot.llm.client import AnswerError, AnswerMeta
from voicebot.french import phrases
from voicebot.pipeline.call_state import CallState
from voicebot.pipeline.frames import CallActionFrame, CallerTranscriptFrame, SpeakFrame
from voicebot.pipeline.responder import Responder


class Scripted:
    def __init__(self, pieces, *, fail=False, offer=False, queue=None):
        self.pieces, self.fail, self.offer, self.queue = pieces, fail, offer, queue

    async def stream(self, question, history, meta: AnswerMeta):
        for p in self.pieces:
            yield p
        if self.fail:
            raise AnswerError("server down")
        meta.offer_human, meta.queue = self.offer, self.queue
        meta.sources = [{"id": "doc#1"}]


async def _run(answerer, *texts):
    state = CallState("c")
    frames = [CallerTranscriptFrame(text=t, turn=i + 1) for i, t in enumerate(texts)]
    down, _ = await run_test(Responder(state, answerer), frames_to_send=frames)
    return state, [f for f in down if isinstance(f, (SpeakFrame, CallActionFrame))]


async def test_answer_is_cut_into_clauses_as_it_streams():
    state, out = await _run(Scripted(["Le passe Navigo mois, ", "toutes zones, coûte 90,80 €. ", "Bonne journée."]),
                            "combien coûte le passe navigo")
    texts = [f.text for f in out if isinstance(f, SpeakFrame)]
    assert texts[0] == "Le passe Navigo mois," and "90,80 €" in texts[1] and texts[-1] == "Bonne journée."
    assert out[-1].last and state.turn(1).sources == [{"id": "doc#1"}]
    assert "llm_first_token" in state.turn(1).marks and "tts_first_sentence" in state.turn(1).marks


async def test_failure_gives_the_apology_and_the_call_goes_on():
    state, out = await _run(Scripted([], fail=True), "bonjour")
    assert [f.text for f in out] == [phrases.LLM_APOLOGY] and state.turn(1).guard == "llm_error"


async def test_asking_for_a_person_transfers():
    _, out = await _run(Scripted(["ignored"]), "je voudrais parler à un conseiller")
    assert [type(f) for f in out] == [SpeakFrame, CallActionFrame]
    assert out[0].text == phrases.TRANSFER and out[1].action == "transfer" and out[1].reason == "caller_request"


async def test_yes_after_an_offer_transfers_to_the_topic_queue():
    _, out = await _run(Scripted(["Je n'ai pas cette information."], offer=True, queue="transport"),
                        "la piscine est ouverte", "oui s'il vous plaît")
    actions = [f for f in out if isinstance(f, CallActionFrame)]
    assert len(actions) == 1 and actions[0].reason == "no_answer" and actions[0].queue == "transport"


class Counting(Scripted):
    def __init__(self, pieces):
        super().__init__(pieces)
        self.questions = []

    async def stream(self, question, history, meta):
        self.questions.append(question)
        async for p in super().stream(question, history, meta):
            yield p


async def test_early_answer_is_adopted_when_the_turn_ends_as_speculated():
    from pipecat.tests.utils import SleepFrame

    from voicebot.pipeline.frames import SpeculativeTranscriptFrame

    answerer = Counting(["Le Navigo coûte 90,80 €."])
    frames = [SpeculativeTranscriptFrame(text="le prix du navigo", segment=1, nbytes=640), SleepFrame(0.2),
              CallerTranscriptFrame(text="le prix du navigo", turn=1, segment=1, nbytes=640)]
    down, _ = await run_test(Responder(CallState("c"), answerer), frames_to_send=frames)
    assert answerer.questions == ["le prix du navigo"]  # computed once, during the pause
    assert [f.text for f in down if isinstance(f, SpeakFrame)] == ["Le Navigo coûte 90,80 €."]


async def test_early_answer_is_dropped_when_the_caller_goes_on():
    from pipecat.frames.frames import VADUserStartedSpeakingFrame
    from pipecat.tests.utils import SleepFrame

    from voicebot.pipeline.frames import SpeculativeTranscriptFrame

    answerer = Counting(["Réponse."])
    frames = [SpeculativeTranscriptFrame(text="le prix", segment=1, nbytes=640), SleepFrame(0.1),
              VADUserStartedSpeakingFrame(), SleepFrame(0.1),
              CallerTranscriptFrame(text="le prix du navigo mois", turn=1, segment=1, nbytes=9600)]
    down, _ = await run_test(Responder(CallState("c"), answerer), frames_to_send=frames)
    assert answerer.questions[-1] == "le prix du navigo mois"
    spoken = [f.text for f in down if isinstance(f, SpeakFrame)]
    assert spoken == ["Réponse."]  # one answer, to the whole question


class Hung:
    """An answerer whose LLM never sends a first token (the hung-LLM attack of issue 14)."""

    async def stream(self, question, history, meta: AnswerMeta):
        import asyncio

        await asyncio.Event().wait()
        yield "never"


async def test_a_hung_answerer_gets_the_apology_at_the_first_token_deadline():
    state = CallState("c")
    down, _ = await run_test(Responder(state, Hung(), first_token_timeout_s=0.3),
                             frames_to_send=[CallerTranscriptFrame(text="combien coûte le passe", turn=1)])
    spoken = [f.text for f in down if isinstance(f, SpeakFrame)]
    assert spoken == [phrases.LLM_APOLOGY] and state.turn(1).guard == "llm_error"


async def test_a_keypad_flood_is_cut_to_the_call_rate():
    from pipecat.audio.dtmf.types import KeypadEntry
    from pipecat.frames.frames import InputDTMFFrame

    events = []
    state = CallState("c", publish=events.append)
    frames = [InputDTMFFrame(button=KeypadEntry.FIVE) for _ in range(500)]
    await run_test(Responder(state, Scripted([])), frames_to_send=frames)
    published = [e for e in events if e.type == "dtmf"]
    assert 20 <= len(published) < 40  # the burst, plus what the rate refills while the test runs
    assert all(e.data["digit"] == "•" for e in published)  # digits leave the pipeline masked


async def test_an_answer_with_nothing_to_say_is_not_left_silent():
    """An LLM answer of "…" alone is not speech: the caller hears the 'not understood' phrase at once."""
    _, out = await _run(Scripted(["…"]), "allume le bureau en rouge")
    texts = [f.text for f in out if isinstance(f, SpeakFrame)]
    assert texts[-1] == phrases.NOT_UNDERSTOOD
    _, out = await _run(Scripted(["Le forfait coûte 90,80 €."]), "combien coûte le navigo")
    assert phrases.NOT_UNDERSTOOD not in [f.text for f in out if isinstance(f, SpeakFrame)]
