"""The one configuration object: precedence and precise errors."""

import pytest

from voicebot.config import ConfigError, load_settings


def test_defaults_toml_env_flags_precedence(tmp_path, monkeypatch):
    cfg = tmp_path / "voicebot.toml"
    cfg.write_text('[server]\nhttp_port = 9001\nhttp_host = "0.0.0.0"\n[stt]\nbeam_size = 3\n[llm]\ntemperature = 0.5\n')
    s = load_settings(cfg)
    assert (s.server.http_port, s.server.http_host, s.stt.beam_size, s.stt.device) == (9001, "0.0.0.0", 3, "cpu")
    monkeypatch.setenv("VOICEBOT_SERVER__HTTP_PORT", "9002")
    monkeypatch.setenv("VOICEBOT_LLM__TEMPERATURE", "0.7")
    s = load_settings(cfg)
    assert (s.server.http_port, s.llm.temperature, s.server.http_host) == (9002, 0.7, "0.0.0.0")
    s = load_settings(cfg, {"server.http_port": 9003, "server.http_host": None})
    assert (s.server.http_port, s.server.http_host) == (9003, "0.0.0.0")


@pytest.mark.parametrize("env,value,expected", [
    ("VOICEBOT_STT__BEAM_SIZE", "0", "invalid setting 'stt.beam_size' (env VOICEBOT_STT__BEAM_SIZE): Input should be greater than or equal to 1 (got '0')"),
    ("VOICEBOT_PIPELINE__VAD_STOP_S", "lots", "invalid setting 'pipeline.vad_stop_s' (env VOICEBOT_PIPELINE__VAD_STOP_S)"),
    ("VOICEBOT_LLM__BACKEND", "gpt", "invalid setting 'llm.backend'"),
])
def test_bad_env_value_names_the_setting(monkeypatch, env, value, expected):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert str(e.value).startswith(expected)


def test_bad_toml_and_unknown_keys(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport=1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(bad)
    bad.write_text("[nosuch]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'nosuch'"):
        load_settings(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml")


def test_data_dir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, {"server.data_dir": "rel"}).server.data_dir == tmp_path / "rel"
