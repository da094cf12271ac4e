"""Health, readiness, error bodies, size limit, admin auth and request ids."""

import json
import logging

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from tests.factories import make_client
from tests.whatsapp.conftest import started


@pytest.fixture
async def client(aiohttp_client, settings: Settings, db) -> TestClient:
    return await started(await aiohttp_client(create_app(settings)))


async def test_health(client: TestClient) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_db_check_counts(client: TestClient) -> None:
    response = await client.get("/db-check")
    body = await response.json()
    assert response.status == 200
    assert body["database"] == "ok"
    assert body["counts"]["clients"] == 0
    assert set(body["counts"]) >= {"conversations", "messages", "open_handovers", "inbound_queue"}


async def test_ready_lists_dependencies(client: TestClient) -> None:
    response = await client.get("/ready")
    body = await response.json()
    assert response.status == 200
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["knowledge"]["status"] == "ok"
    assert body["checks"]["llm"] == {"status": "disabled"}
    assert body["checks"]["telegram"] == {"status": "disabled",
                                          "reason": "no client has a Telegram bot"}
    assert body["checks"]["whatsapp"] == {"status": "ok"}
    assert body["checks"]["scheduler"]["leader"] in (True, False)


async def test_db_check_and_ready_answer_503_when_database_is_gone(client: TestClient) -> None:
    from gateway.keys import DB

    await client.app[DB].close()
    response = await client.get("/db-check")
    assert response.status == 503
    assert (await response.json())["success"] is False
    ready = await client.get("/ready")
    assert ready.status == 503
    assert (await ready.json())["checks"]["database"]["status"] == "down"


async def test_unknown_path_gets_json_404(client: TestClient) -> None:
    response = await client.get("/no/such/path")
    assert response.status == 404
    body = await response.json()
    assert body == {"success": False, "error": "not_found", "message": "Not Found"}


async def test_wrong_method_gets_json_405(client: TestClient) -> None:
    response = await client.delete("/health")
    assert response.status == 405
    assert (await response.json())["error"] == "method_not_allowed"


async def test_body_over_limit_gets_413(aiohttp_client, settings: Settings, db) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    client = await aiohttp_client(create_app(small))
    response = await client.post("/health", data=b"x" * 5000)
    assert response.status == 413
    assert (await response.json())["error"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/admin/clients", "/message", "/callback", "/reminders/process"])
async def test_admin_paths_are_closed_without_admin_token_configured(
    aiohttp_client, settings: Settings, db, path: str
) -> None:
    closed = settings.model_copy(update={"admin_token": None})
    client = await aiohttp_client(create_app(closed))
    response = await client.post(path, json={}, headers={"Authorization": "Bearer anything"})
    assert response.status == 403
    assert (await response.json())["error"] == "forbidden"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Admin-Token": "nope"}])
async def test_admin_paths_need_the_right_token(client: TestClient, headers: dict) -> None:
    response = await client.post("/reminders/process", json={}, headers=headers)
    assert response.status == 403


async def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    generated = await client.get("/health")
    assert len(generated.headers["X-Request-Id"]) == 16
    failed = await client.get("/nowhere", headers={"X-Request-Id": "req-404"})
    assert failed.headers["X-Request-Id"] == "req-404"


async def test_request_id_appears_in_log_lines(aiohttp_client, settings: Settings, db, caplog) -> None:
    from gateway.logs import JsonFormatter

    caplog.set_level(logging.INFO)
    app = create_app(settings)
    app.router.add_get("/boom", _boom)
    client = await aiohttp_client(app)
    response = await client.get("/boom", headers={"X-Request-Id": "trace-me"})
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "internal" and body["request_id"] == "trace-me"
    assert "Traceback" not in json.dumps(body)
    record = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-me"


async def _boom(request):
    raise RuntimeError("secret internals")


async def test_metrics_are_prometheus_text(client: TestClient, db) -> None:
    await make_client(db, "metrics_salon")
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'truffles_open_handovers{client="metrics_salon",state="pending"} 0.0' in text
    assert 'truffles_queue_depth{client="metrics_salon",queue="inbound"} 0.0' in text
    assert "truffles_scheduler_leader 1.0" in text


async def test_an_empty_admin_token_keeps_the_admin_api_closed(aiohttp_client, settings: Settings) -> None:
    from pydantic import SecretStr

    empty = settings.model_copy(update={"admin_token": SecretStr("")})
    client = await aiohttp_client(create_app(empty))
    response = await client.get("/admin/clients")
    assert response.status == 403
