"""Onboarding a client with the command line alone, verified by `doctor` against the fake
ChatFlow, Bot API and embedder (issue 14: "client create → doctor salon passes")."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.cli import main
from gateway.settings import Settings
from tests.telegram.fakes import GROUP_A, TOKEN_A


@pytest.fixture
def cli_env(monkeypatch, ops_settings: Settings, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    env = {"DATABASE_URL": ops_settings.database_url.get_secret_value(),
           "DATA_DIR": str(tmp_path / "data"), "DEMO_SEED": "false",
           "EMBEDDINGS_PROVIDER": "tei", "EMBEDDINGS_URL": ops_settings.embeddings_url,
           "EMBEDDINGS_MODEL": "fake", "TELEGRAM_API_BASE": ops_settings.telegram_api_base,
           "CHATFLOW_API_BASE": ops_settings.chatflow_api_base, "LOG_LEVEL": "WARNING"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ADMIN_TOKEN", "QDRANT_URL",
                 "TELEGRAM_MODE", "PUBLIC_BASE_URL", "CHATFLOW_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


async def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_a_client_onboarded_with_the_cli_passes_doctor(cli_env, capsys, db) -> None:
    code, out, err = await run(capsys, "client", "create", "salon", "--name", "Салон",
                               "--chatflow-token", "cf-token", "--chatflow-instance", "inst-1",
                               "--telegram-token", TOKEN_A, "--telegram-chat-id", str(GROUP_A))
    assert code == 0, err

    code, out, _ = await run(capsys, "doctor", "salon")
    assert code == 1  # nothing to answer from yet
    failing = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1 and "salon" in failing[0] and "knowledge" in failing[0]
    assert "fix: python -m gateway knowledge ingest --client salon" in out

    docs = cli_env / "docs"
    docs.mkdir()
    (docs / "prices.md").write_text("# Цены\n\nМаникюр с покрытием стоит 9 000 тенге.\n", "utf-8")
    code, _, err = await run(capsys, "knowledge", "ingest", "--client", "salon", str(docs))
    assert code == 0, err

    code, out, err = await run(capsys, "doctor", "salon")
    assert code == 0, out + err
    assert out.splitlines()[-1].startswith("all ") and "checks pass" in out
    for name in ("database", "embedder", "vector_store", "llm", "chatflow", "webhook_secret",
                 "timezone", "working_hours", "telegram_token", "telegram_group",
                 "telegram_rights", "telegram_webhook", "knowledge"):
        assert any(line.startswith("PASS") and f" {name} " in line for line in out.splitlines()), name
    assert TOKEN_A not in out  # a token is never printed

    code, out, _ = await run(capsys, "doctor", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert {c["scope"] for c in report["checks"]} == {"global", "salon"}
    assert next(c for c in report["checks"] if c["name"] == "llm")["detail"].startswith(
        "no-LLM mode")


async def test_doctor_fails_with_a_fix_when_the_database_is_unreachable(cli_env, capsys, monkeypatch,
                                                                       db) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    code, out, _ = await run(capsys, "doctor", "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    database = next(c for c in report["checks"] if c["name"] == "database")
    assert database["status"] == "fail" and "unreachable" in database["detail"]
    assert "DATABASE_URL" in database["hint"]
    assert next(c for c in report["checks"] if c["name"] == "clients")["status"] == "skip"


async def test_doctor_of_an_unknown_client_is_one_line(cli_env, capsys, db) -> None:
    code, _, err = await run(capsys, "doctor", "nobody")
    assert code == 1 and err.strip() == "error: no client with slug 'nobody'"
