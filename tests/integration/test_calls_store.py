"""CallStore on SQLite (WAL) and on a real PostgreSQL started by the test: same tests, one code path."""

import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from calls_support import postgres_server  # noqa: E402

from voicebot.calls import migrations  # noqa: E402
from voicebot.calls.store import CallStore  # noqa: E402


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = CallStore(f"sqlite:///{tmp_path}/calls.sqlite3")
    else:
        s = CallStore(request.getfixturevalue("pg_url"))
        with s.engine.begin() as conn:  # fresh schema per test
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    assert s.migrate() == migrations.LATEST and s.migrate() == migrations.LATEST
    yield s
    s.close()


def test_sqlite_uses_wal(tmp_path):
    s = CallStore(f"sqlite:///{tmp_path}/c.sqlite3")
    s.migrate()
    with s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_call_turns_events_handoff(store):
    now = time.time()
    store.start_call("c1", started_at=now, channel="sip", caller="06 •••••• 78", worker_id="w1")
    store.start_call("c1", started_at=now + 5, channel="x")  # replayed start: ignored
    store.add_turn("c1", 0, ended_at=now + 1, caller_text="Bonjour", bot_text="Bonjour !", latency_ms={"llm": 300.5},
                   sources=[{"title": "Navigo"}], guard="ok")
    store.add_turn("c1", 1, ended_at=now + 2, caller_text="Le tarif Navigo ?", bot_text="86,40 euros.")
    store.add_turn("c1", 1, ended_at=now + 3, caller_text="Le tarif Navigo ?", bot_text="88,80 euros.")  # replay
    store.add_event("c1", "e1", "dtmf", now + 1, {"digit": "0"})
    store.add_event("c1", "e1", "dtmf", now + 1, {"digit": "0"})
    store.add_handoff("h1", "c1", created_at=now + 4, reason="dtmf", queue="accueil", card={"need": "x"})
    call = store.get_call("c1")
    assert call["channel"] == "sip" and call["turns"] == 2 and call["transferred"] and call["live"]
    turns = store.turns("c1")
    assert [t["bot_text"] for t in turns] == ["Bonjour !", "88,80 euros."]
    assert turns[0]["latency_ms"] == {"llm": 300.5} and turns[0]["sources"] == [{"title": "Navigo"}]
    assert "caller_text_raw" not in turns[0]
    assert len(store.events("c1")) == 1
    assert store.get_handoff("h1")["card"] == {"need": "x"}
    assert [h["id"] for h in store.recent_handoffs(call_id="c1")] == ["h1"]
    assert [c["id"] for c in store.open_calls()] == ["c1"]
    store.end_call("c1", ended_at=now + 10, reason="transfer")
    assert store.open_calls() == [] and store.get_call("c1")["end_reason"] == "transfer"


def test_history_search(store):
    now = time.time()
    for i, topic in enumerate(["lycées", "transport", "aides"]):
        store.start_call(f"c{i}", started_at=now + i, worker_id="w")
        store.add_turn(f"c{i}", 0, ended_at=now + i, caller_text=f"question sur {topic}", bot_text="réponse")
        store.end_call(f"c{i}", ended_at=now + i + 1, reason="caller_hangup")
    store.start_call("open", started_at=now, worker_id="w")
    assert [c["id"] for c in store.history()] == ["c2", "c1", "c0"]
    assert [c["id"] for c in store.history("TRANSPORT")] == ["c1"]
    assert store.history("introuvable") == []


def test_dead_worker_calls_end_abnormally(store):
    now = time.time()
    store.heartbeat("alive", now=now)
    store.heartbeat("dead", now=now - 100)
    store.start_call("a", started_at=now, worker_id="alive")
    store.start_call("d", started_at=now, worker_id="dead")
    lost = store.end_lost_calls(lease_s=20, now=now)
    assert [c["id"] for c in lost] == ["d"]
    d = store.get_call("d")
    assert d["abnormal"] and d["end_reason"] == "worker_lost" and not d["live"]
    assert store.get_call("a")["live"]
    assert store.end_lost_calls(lease_s=20, now=now) == []
    # on restart with the same worker id, its open calls are closed
    assert [c["id"] for c in store.end_lost_calls(0, now, worker_id="alive")] == ["a"]


def test_purge_older_than(store):
    now = time.time()
    store.start_call("old", started_at=now - 40 * 86400, worker_id="w")
    store.add_turn("old", 0, ended_at=now - 40 * 86400, caller_text="a", bot_text="b")
    store.add_event("old", "e-old", "dtmf", now - 40 * 86400, {})
    store.end_call("old", ended_at=now - 40 * 86400 + 60, reason="caller_hangup")
    store.start_call("new", started_at=now - 86400, worker_id="w")
    store.end_call("new", ended_at=now - 86400 + 60, reason="caller_hangup")
    store.start_call("open-old", started_at=now - 40 * 86400, worker_id="w")  # still open: kept
    assert store.purge(30 * 86400, now=now) == 1
    assert store.get_call("old") is None and store.turns("old") == [] and store.events("old") == []
    assert store.get_call("new") and store.get_call("open-old")


def test_users_and_sessions(store):
    assert store.upsert_user("marie", "agent", "hash1") is True
    store.create_session("tok", "marie", "agent", "csrf", ttl_s=60)
    assert store.get_session("tok")["role"] == "agent"
    assert store.upsert_user("marie", "supervisor", "hash2") is False  # role change drops sessions
    assert store.get_session("tok") is None and store.get_user("marie")["role"] == "supervisor"
    store.create_session("tok2", "marie", "supervisor", "csrf", ttl_s=-1)
    assert store.get_session("tok2") is None  # expired
