"""`/metrics` behind METRICS_TOKEN: a bearer token when set, open (bind privately) when not."""

from __future__ import annotations

from pydantic import SecretStr

from gateway.app import create_app

TOKEN = "scrape-token-0123456789abcdef"


async def test_metrics_need_the_token_when_one_is_set(ops_settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(ops_settings.model_copy(
        update={"metrics_token": SecretStr(TOKEN)})))
    missing = await client.get("/metrics")
    assert missing.status == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await missing.json())["error"] == "unauthorized"
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    # the admin token is not a metrics token
    admin = await client.get("/metrics", headers={"X-Admin-Token": TOKEN})
    assert admin.status == 401
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status == 200 and "truffles_" in await right.text()


async def test_metrics_are_open_without_a_token(ops_settings, aiohttp_client) -> None:
    client = await aiohttp_client(create_app(ops_settings))
    assert (await client.get("/metrics")).status == 200
