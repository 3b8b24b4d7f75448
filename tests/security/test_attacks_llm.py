"""A hung LLM (issue 14, finding 9): the caller waited knowledge.llm_timeout_s (20 s) because that, not
llm.first_token_timeout_s, bounded the first token. The pipeline-wide deadline is in the Responder
(tests/unit/test_pipeline_responder.py); here, a real LLM address that accepts and never answers."""

from __future__ import annotations

import datetime
import socket

from voicebot.config import load_settings
from voicebot.knowledge.service import KnowledgeService


async def test_the_knowledge_llm_gives_way_to_the_extractive_answer_before_the_pipeline_deadline(tmp_path):
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # accepts (the kernel does), never answers
    url = f"http://127.0.0.1:{hung.getsockname()[1]}/v1"
    settings = load_settings(overrides={"server.data_dir": str(tmp_path), "llm.backend": "openai",
                                        "llm.base_url": url, "llm.first_token_timeout_s": 2.0,
                                        "knowledge.embedder": "none"})
    service = KnowledgeService.from_settings(settings)
    try:
        assert settings.knowledge.llm_timeout_s == 20.0
        assert service.settings.llm_first_token_timeout_s == 1.4  # 0.7 x llm.first_token_timeout_s
        service.use_llm(url)
        answerer = service.answerer("llm")
        assert answerer._get_client().first_token_timeout_s == 1.4  # the client the answers go through
        answer = await answerer.answer("Combien coûte le passe Navigo ?", datetime.date(2025, 6, 1))
        assert answer.guard in ("unavailable", "rejected") and answer.answer  # the extractive answer
    finally:
        service.close()
        hung.close()
