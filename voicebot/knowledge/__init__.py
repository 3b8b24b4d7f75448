"""Knowledge base: ingest, stores (SQLite, PostgreSQL), versions/diff, grounded answering.

Entry points: `voicebot.knowledge.service.KnowledgeService` (shared, loaded once per process),
`voicebot.knowledge.answer.Answer` / `Answerer`, `voicebot.knowledge.cli.register`.
"""
