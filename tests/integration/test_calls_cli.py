"""`voicebot users add` and `voicebot calls purge` through register(), against a real SQLite store."""

import argparse
import io
import time
from types import SimpleNamespace

from voicebot.calls.cli import register
from voicebot.calls.settings import CallsSettings
from voicebot.calls.store import CallStore
from voicebot.calls.passwords import verify_password


def run(argv, settings, monkeypatch, stdin=""):
    parser = argparse.ArgumentParser(prog="voicebot")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return args.func(args, settings)


def test_users_add_and_purge(tmp_path, monkeypatch, capsys):
    settings = SimpleNamespace(calls=CallsSettings(), server=SimpleNamespace(data_dir=tmp_path))
    assert run(["users", "add", "marie", "--role", "supervisor"], settings, monkeypatch, "tres-secret\n") == 0
    store = CallStore(f"sqlite:///{tmp_path}/calls.sqlite3")
    user = store.get_user("marie")
    assert user["role"] == "supervisor" and verify_password(user["password_hash"], "tres-secret")
    assert "tres-secret" not in user["password_hash"]
    assert run(["users", "add", "marie", "--role", "agent"], settings, monkeypatch, "autre-secret\n") == 0
    assert store.get_user("marie")["role"] == "agent"

    assert run(["users", "add", "bad name", "--role", "agent"], settings, monkeypatch, "tres-secret\n") == 2
    assert run(["users", "add", "paul", "--role", "agent"], settings, monkeypatch, "court\n") == 2
    err = capsys.readouterr().err
    assert "voicebot: error: invalid user name 'bad name'" in err and "at least 8 characters" in err

    now = time.time()
    store.start_call("old", started_at=now - 40 * 86400, worker_id="w")
    store.end_call("old", ended_at=now - 40 * 86400, reason="caller_hangup")
    store.start_call("recent", started_at=now - 3600, worker_id="w")
    store.end_call("recent", ended_at=now - 3500, reason="caller_hangup")
    assert run(["calls", "purge", "--older-than", "30d"], settings, monkeypatch) == 0
    assert "1 call(s) purged" in capsys.readouterr().out
    assert store.get_call("old") is None and store.get_call("recent") is not None
    assert run(["calls", "purge", "--older-than", "soon"], settings, monkeypatch) == 2
    assert "voicebot: error: invalid age 'soon'" in capsys.readouterr().err
