"""Policy documents with examples (CLI and admin API) and the per-client sensitivity setting:
validated, stored, shown."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from gateway.app import create_app
from tests.factories import make_client
from tests.whatsapp.test_cli_and_legacy import _run, cli_env

POLICY = {"topics": [{"name": "delivery", "description": "проблемы с доставкой",
                      "stems": ["курьер"], "examples": ["где мой заказ", "курьер не приехал"],
                      "unless": ["курьер звонит"]}]}


@pytest.fixture
async def api(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))


async def test_the_admin_api_takes_examples_and_refuses_bad_ones(api, admin_headers, db) -> None:
    await make_client(db, "shop")
    put = await api.put("/admin/clients/shop/policy", headers=admin_headers, json=POLICY)
    assert put.status == 200
    topics = (await put.json())["topics"]
    assert topics == [{**POLICY["topics"][0], "phrases": []}]
    for bad, message in [
        ({"name": "x", "examples": "где заказ"}, "examples must be a list of strings"),
        ({"name": "x", "examples": ["a" * 301]}, "over 300 characters"),
        ({"name": "x", "examples": ["где"], "colour": "red"}, "unknown keys colour"),
        ({"name": "greeting", "examples": ["привет"]}, "taken by an intent"),
        ({"name": "x", "unless": ["курьер"]}, "at least one phrase, stem or example"),
    ]:
        refused = await api.put("/admin/clients/shop/policy", headers=admin_headers, json={"topics": [bad]})
        assert refused.status == 400 and message in (await refused.json())["message"], bad
    kept = await (await api.get("/admin/clients/shop/policy", headers=admin_headers)).json()
    assert kept["topics"] == topics


async def test_the_default_policy_ships_examples_in_three_languages(api, admin_headers, db) -> None:
    await make_client(db, "salon")
    topics = (await (await api.get("/admin/clients/salon/policy", headers=admin_headers)).json())["topics"]
    assert [t["name"] for t in topics] == ["legal", "complaint", "payment", "booking_change", "medical"]
    for topic in topics:
        examples = " ".join(topic["examples"])
        assert len(topic["examples"]) >= 20, topic["name"]
        assert any(c in examples for c in "әіңғүұқөһ"), topic["name"]  # Kazakh
        assert any(c.isascii() and c.isalpha() for c in examples), topic["name"]  # English, translit


async def test_sensitivity_is_validated_and_shown(api, admin_headers, db) -> None:
    await make_client(db, "clinic")
    ok = await api.patch("/admin/clients/clinic", headers=admin_headers, json={"policy_threshold_offset": 0.02})
    assert ok.status == 200 and (await ok.json())["policy_threshold_offset"] == 0.02
    for bad in (0.5, -0.2, "strict", True):
        refused = await api.patch("/admin/clients/clinic", headers=admin_headers,
                                  json={"policy_threshold_offset": bad})
        assert refused.status == 400 and "policy_threshold_offset" in (await refused.json())["message"]
    shown = await (await api.get("/admin/clients/clinic", headers=admin_headers)).json()
    assert shown["policy_threshold_offset"] == 0.02


async def test_the_cli_sets_a_policy_with_examples_and_the_sensitivity(cli_env, capsys, db, tmp_path) -> None:
    await make_client(db, "florist")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(POLICY, allow_unicode=True), encoding="utf-8")
    code, out, err = await asyncio.to_thread(_run, cli_env, capsys, ["client", "policy", "florist", "--set", str(path)])
    assert code == 0, err
    assert "policy of florist: 1 topics" in out
    code, out, _ = await asyncio.to_thread(_run, cli_env, capsys, ["client", "policy", "florist", "--json"])
    assert json.loads(out)[0]["examples"] == ["где мой заказ", "курьер не приехал"]
    code, out, err = await asyncio.to_thread(_run, cli_env, capsys,
                                             ["client", "set", "florist", "policy_threshold_offset=-0.03"])
    assert code == 0, err
    code, _, err = await asyncio.to_thread(_run, cli_env, capsys,
                                           ["client", "set", "florist", "policy_threshold_offset=0.3"])
    assert code == 1 and "between -0.1 and 0.1" in err
    assert float(await db.fetchval("SELECT policy_threshold_offset FROM client_settings")) == -0.03


__all__ = ["cli_env"]
