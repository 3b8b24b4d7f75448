"""PostgreSQL + pgvector store against a real server started for the test: same results as SQLite."""

import asyncio
import sys
from pathlib import Path

import pytest

from voicebot.knowledge import evaluation
from voicebot.knowledge.postgres_store import PostgresKnowledgeStore
from voicebot.knowledge.service import KnowledgeService

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from knowledge_support import PostgresServer, build_sample_service, eval_file  # noqa: E402


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def services(postgres, tmp_path_factory):
    sqlite = build_sample_service(tmp_path_factory.mktemp("kb-sqlite"))
    pg = KnowledgeService(PostgresKnowledgeStore(postgres.dsn, dim=sqlite.embedder.dim), sqlite.embedder,
                          sqlite.settings)
    report = pg.ingest([sqlite.settings.samples_dir])
    assert report.chunks == sqlite.store.chunk_count()
    yield sqlite, pg
    pg.close()
    sqlite.close()


def test_same_top_results_as_sqlite_on_the_eval_set(services):
    sqlite, pg = services
    items = evaluation.load(eval_file())
    same_doc = same_chunk = 0
    answerable = [i for i in items if not i.expect_refusal]
    for item in answerable:
        a = sqlite.search(item.question, item.on_date, 5)
        b = pg.search(item.question, item.on_date, 5)
        same_doc += a[0].chunk.document_id == b[0].chunk.document_id
        same_chunk += a[0].chunk.id == b[0].chunk.id
        # dense ranking is the same computation on both backends
        va = sqlite.retriever.embed_query(item.question)
        assert [c for c, _ in sqlite.store.dense_search(va, item.on_date, 5)] == \
               [c for c, _ in pg.store.dense_search(va, item.on_date, 5)]
    assert same_doc == len(answerable)
    assert same_chunk >= 0.9 * len(answerable)


def test_versions_discrepancies_and_idempotency(services):
    sqlite, pg = services
    assert len(pg.diff()) == len(sqlite.diff()) > 100
    assert {(d.scheme, d.field, d.old_document) for d in pg.diff()} == \
           {(d.scheme, d.field, d.old_document) for d in sqlite.diff()}
    again = pg.ingest([sqlite.settings.samples_dir])
    assert again.added == [] and again.updated == [] and again.chunks == 0


def test_answers_match_sqlite(services):
    sqlite, pg = services
    report_pg = asyncio.run(evaluation.run(pg, evaluation.load(eval_file()), "extractive"))
    assert report_pg.hit1 >= 0.9 and report_pg.forbidden_rate == 0.0 and report_pg.grounded_rate == 1.0
