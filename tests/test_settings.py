import pytest

from gateway.settings import Settings, SettingsError, load_settings


def test_defaults_match_the_wire_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "PORT", "HOST", "TELEGRAM_MODE", "LOG_FORMAT", "ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.database_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.telegram_mode == "polling"
    assert settings.chatflow_api_base == "https://app.chatflow.kz/api/v1"
    assert settings.llm_model == "gpt-4o-mini"
    assert settings.llm_timeout_seconds == 15
    assert settings.embeddings_provider == "local"
    assert settings.qdrant_collection == "truffles_knowledge"
    assert settings.log_format == "json"
    assert settings.admin_token is None
    assert not settings.llm.enabled


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://u@h/db", "DATABASE_URL: must be a postgresql://"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("PORT", "99999", "PORT"),
        ("PORT", "eighty", "PORT"),
        ("TELEGRAM_MODE", "carrier-pigeon", "TELEGRAM_MODE"),
        ("CHATFLOW_API_BASE", "ftp://x", "CHATFLOW_API_BASE: must be an http(s):// URL"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: must be one of"),
        ("LLM_TIMEOUT_SECONDS", "-1", "LLM_TIMEOUT_SECONDS"),
        ("EMBEDDINGS_PROVIDER", "magic", "EMBEDDINGS_PROVIDER"),
        ("FLOOD_MESSAGES_PER_MINUTE", "0", "FLOOD_MESSAGES_PER_MINUTE"),
        ("MAX_TURN_CHARS", "50", "MAX_TURN_CHARS"),
        ("MAX_EVENTS_PER_TURN", "1000", "MAX_EVENTS_PER_TURN"),
    ],
)
def test_bad_values_give_one_human_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert message.startswith("invalid configuration: ")


def test_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORT", raising=False)
    env = tmp_path / ".env"
    env.write_text("PORT=9123\nOPENAI_API_KEY=sk-test\n")
    settings = Settings(_env_file=env)
    assert settings.port == 9123
    assert settings.llm.enabled
    assert "sk-test" not in repr(settings)


def test_cli_reports_bad_configuration(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from gateway.cli import main

    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: invalid configuration: DATABASE_URL")
    assert len(err.splitlines()) == 1


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    env = tmp_path / ".env"
    env.write_text("ADMIN_TOKEN=\nOPENAI_API_KEY=\nDATABASE_URL=\n")
    for name in ("ADMIN_TOKEN", "OPENAI_API_KEY", "DATABASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=env)
    assert settings.admin_token is None
    assert settings.database_url is None
    assert not settings.llm.enabled
    monkeypatch.setenv("ADMIN_TOKEN", "")
    assert Settings(_env_file=None).admin_token is None
