"""Dossier lookups as the dialogue runs them.

Directly (embedded install, no LLM) or through the LLM's tool calling (vLLM's OpenAI-compatible
`tools`), with the same verification and the same outcome.

With a real LLM the model is handed the adapter's tool (schema built from the OpenAPI operation) and the
caller's confirmed number and postcode, and must call it; its arguments are checked against what the
caller confirmed (a model must not look up another dossier) before the adapter runs them. The answer to
the caller is then phrased by the flow's templates, never by the model: figures and dates come from the
back-office as they are, and nothing is said before verification. Any LLM failure falls back to the
direct lookup, so a slow model never costs the caller the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, cast

from voicebot.backoffice.client import BackofficeClient, dossier_status
from voicebot.backoffice.models import DossierStatus

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "Tu es l'assistant vocal de la Région Île-de-France. Pour connaître l'état d'un dossier, appelle "
    "l'outil fourni avec le numéro de dossier et le code postal exactement tels que l'appelant les a "
    "confirmés. N'invente aucune valeur.")


@dataclass
class LookupResult:
    """A dossier lookup's outcome and the path it took (direct, through the LLM's tool, or both)."""

    status: DossierStatus | None
    via: str  # "direct" | "llm_tool" | "direct_after_llm" (the model failed or was overruled)
    note: str = ""


class DirectLookup:
    """The embedded path: the adapter, called with the confirmed values."""

    def __init__(self, client: BackofficeClient):
        self.client = client

    async def lookup(self, number: str, postcode: str) -> LookupResult:
        return LookupResult(await dossier_status(self.client, number, postcode), "direct")


class ToolCallingLookup:
    """The LLM path: the model calls the back-office tool; arguments checked; direct lookup on failure."""

    def __init__(self, client: BackofficeClient, *, base_url: str, api_key: str = "not-needed", model: str = "",
                 timeout_s: float = 8.0, openai_client: Any = None):
        from openai import AsyncOpenAI

        self.client = client
        self.llm = openai_client or AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0,
                                                timeout=timeout_s)
        self.model = model
        self.timeout_s = timeout_s

    async def _tool_arguments(self, number: str, postcode: str) -> str:
        """The raw arguments of the model's one call of the tool (JSON text, not trusted)."""
        op = self.client.settings.status_operation
        tool = await self.client.tool_schema(op)
        if not self.model:
            models = await self.llm.models.list()
            self.model = models.data[0].id
        messages: list[Any] = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"Numéro de dossier confirmé : {number}. Code postal : {postcode}."}]
        response: Any = await self.llm.chat.completions.create(  # the OpenAI-compatible server's answer
            model=self.model, messages=messages, tools=[cast(Any, tool)], temperature=0, max_tokens=120,
            tool_choice=cast(Any, {"type": "function", "function": {"name": op}}))
        calls = response.choices[0].message.tool_calls or []
        if len(calls) != 1 or calls[0].function.name != op:
            raise ValueError(f"the model made {len(calls)} tool call(s), not one call of {op}")
        return calls[0].function.arguments or ""

    async def lookup(self, number: str, postcode: str) -> LookupResult:
        try:
            raw = await asyncio.wait_for(self._tool_arguments(number, postcode), self.timeout_s)
        except Exception as e:  # LLM down, slow, or no proper tool call: the caller still gets the answer
            log.warning("LLM tool call failed (%s), direct lookup", type(e).__name__,
                        extra={"error": f"{type(e).__name__}: {e}"[:200]})
            status = await dossier_status(self.client, number, postcode)
            return LookupResult(status, "direct_after_llm", f"llm_failed: {type(e).__name__}")
        try:
            args = json.loads(raw)
        except ValueError:
            args = None
        if args != {"number": number, "verification_postcode": postcode}:
            note = "llm_args_mismatch" if isinstance(args, dict) else "llm_args_invalid"
            log.warning("LLM tool arguments not used (%s): the caller's confirmed values are", note)
            return LookupResult(await dossier_status(self.client, number, postcode), "direct_after_llm", note)
        op = self.client.settings.status_operation
        status_code, body = await self.client.call(op, args)
        status = None if status_code == 404 else DossierStatus.from_wire(body, number)
        return LookupResult(status, "llm_tool")
