"""The inbound webhook: every bad input gets its specified status and nothing is half-stored."""

import asyncio
import json

import asyncpg
import pytest

from gateway.keys import INGEST
from tests.factories import WEBHOOK_SECRET
from tests.fakes import wait_for
from tests.whatsapp.conftest import JID, post, text_payload


async def _stored(db: asyncpg.Pool) -> tuple[int, int, int]:
    row = await db.fetchrow("""SELECT (SELECT count(*) FROM inbound_events) e,
                                      (SELECT count(*) FROM users) u,
                                      (SELECT count(*) FROM conversations) c""")
    return row["e"], row["u"], row["c"]


async def _refusal(response) -> dict:
    """A refused webhook's answer: the error form, with WIRE.md §1's `conversation_id` (null)."""
    answer = await response.json()
    assert answer["success"] is False and answer["error"] and answer["conversation_id"] is None
    return answer


@pytest.fixture
async def client(start_app, wa_settings, demo):
    return await start_app(wa_settings)


async def test_same_message_id_five_times_concurrently_gives_one_reply(client, db, chatflow) -> None:
    responses = await asyncio.gather(*(post(client, text_payload("Привет", "DUP-1")) for _ in range(5)))
    bodies = [await r.json() for r in responses]
    assert all(r.status == 200 for r in responses)
    assert sorted(b["message"] for b in bodies).count("Duplicate message_id") == 4
    assert len({b["conversation_id"] for b in bodies}) == 1
    await wait_for(lambda: chatflow.delivered())
    await asyncio.sleep(0.5)  # give a wrong second reply the chance to show up
    assert len(chatflow.calls) == 1
    assert await db.fetchval("SELECT count(*) FROM inbound_events") == 1


async def test_a_later_duplicate_is_acknowledged_not_processed(client, db, chatflow) -> None:
    await post(client, text_payload("Привет", "DUP-2"))
    await wait_for(lambda: chatflow.delivered())
    again = await post(client, text_payload("Привет", "DUP-2"))
    assert (await again.json())["message"] == "Duplicate message_id"
    await asyncio.sleep(0.3)
    assert len(chatflow.calls) == 1


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"messageType": "text", "message": "hi", "metadata": {"messageId": "x"}}).encode(),
         400, "remoteJid"),
        (json.dumps(text_payload("hi", "M", jid="not-a-jid")).encode(), 400, "remoteJid"),
        (json.dumps({"message": "hi", "metadata": {"remoteJid": JID}}).encode(), 400, "messageId"),
        ("привет".encode("cp1251"), 400, "UTF-8"),
        (json.dumps(text_payload("", "M-empty")).encode(), 400, "empty"),
    ],
)
async def test_bad_payloads_are_refused_with_a_reason(client, db, body, status, fragment) -> None:
    response = await client.post("/webhook/demo_salon", data=body,
                                 params={"webhook_secret": WEBHOOK_SECRET},
                                 headers={"Content-Type": "application/json"})
    assert response.status == status
    assert fragment in (await _refusal(response))["message"]
    assert await _stored(db) == (0, 0, 0)


@pytest.mark.parametrize("secret", [None, "wrong-secret-0000000000", WEBHOOK_SECRET[:-1]])
async def test_wrong_or_missing_secret_is_401(client, db, secret) -> None:
    params = {"webhook_secret": secret} if secret else {}
    response = await client.post("/webhook/demo_salon", json=text_payload("hi", "S-1"), params=params)
    assert response.status == 401
    assert (await _refusal(response))["error"] == "unauthorized"
    assert await _stored(db) == (0, 0, 0)


async def test_secret_in_header_is_accepted(client) -> None:
    response = await client.post("/webhook/demo_salon", json=text_payload("hi", "H-1"),
                                 headers={"X-Webhook-Secret": WEBHOOK_SECRET})
    assert response.status == 200


async def test_unknown_client_is_404(client, db) -> None:
    response = await post(client, text_payload("hi", "U-1"), slug="nobody")
    assert response.status == 404
    assert (await _refusal(response))["error"] == "unknown_client"


async def test_five_megabyte_body_is_413(client, db) -> None:
    response = await client.post("/webhook/demo_salon", data=b"{" + b" " * (5 * 1024 * 1024) + b"}",
                                 params={"webhook_secret": WEBHOOK_SECRET},
                                 headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert (await _refusal(response))["error"] == "payload_too_large"
    assert await _stored(db) == (0, 0, 0)


async def test_chunked_oversized_body_is_413(client, db) -> None:
    async def chunks():
        for _ in range(6):
            yield b" " * (1024 * 1024)

    response = await client.post("/webhook/demo_salon", data=chunks(),
                                 params={"webhook_secret": WEBHOOK_SECRET})
    assert response.status == 413
    assert (await _refusal(response))["error"] == "payload_too_large"
    assert await _stored(db) == (0, 0, 0)


async def test_long_message_is_accepted_and_truncated(client, db, chatflow) -> None:
    response = await post(client, text_payload("а" * 10_000, "LONG-1"))
    assert response.status == 200
    await wait_for(lambda: chatflow.delivered())
    stored = await db.fetchval("SELECT length(content) FROM messages WHERE role = 'user'")
    assert stored == 4096
    raw = await db.fetchval("SELECT payload FROM inbound_events")
    assert raw["inbound"]["truncated"] is True and len(raw["raw"]["message"]) == 10_000


async def test_html_and_sql_metacharacters_are_stored_verbatim(client, db, chatflow) -> None:
    text = "<script>alert(1)</script> '; DROP TABLE users; -- & \"quotes\""
    response = await post(client, text_payload(text, "META-1"))
    assert response.status == 200
    await wait_for(lambda: chatflow.delivered())
    assert await db.fetchval("SELECT content FROM messages WHERE role = 'user'") == text
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_empty_body_and_get_are_probes(client, db) -> None:
    empty = await client.post("/webhook/demo_salon", data=b"", params={"webhook_secret": WEBHOOK_SECRET})
    assert empty.status == 200 and (await empty.json())["success"] is True
    probe = await client.get("/webhook/demo_salon")
    assert probe.status == 200
    assert await _stored(db) == (0, 0, 0)


async def test_legacy_wrapped_form_and_alternative_keys(client, db, chatflow) -> None:
    wrapped = {"client_slug": "demo_salon",
               "body": {"messageType": "text", "text": "Привет",
                        "metadata": {"remote_jid": "77019998877", "messageId": "LEG-1",
                                     "pushName": "Ержан"}}}
    response = await client.post("/webhook", json=wrapped, params={"webhook_secret": WEBHOOK_SECRET})
    assert response.status == 200, await response.text()
    await wait_for(lambda: chatflow.delivered())
    assert chatflow.delivered()[0]["jid"] == "77019998877@s.whatsapp.net"
    assert await db.fetchval("SELECT name FROM users") == "Ержан"
    no_slug = await client.post("/webhook", json={"body": {}}, params={"webhook_secret": WEBHOOK_SECRET})
    assert no_slug.status == 400


async def test_lid_jids_are_accepted(client, db, chatflow) -> None:
    response = await post(client, text_payload("Привет", "LID-1", jid="123456789012@lid"))
    assert response.status == 200
    await wait_for(lambda: chatflow.delivered())
    assert chatflow.delivered()[0]["jid"] == "123456789012@lid"


async def test_database_down_is_503(client, db) -> None:
    from gateway.keys import DB

    await client.app[DB].close()
    response = await post(client, text_payload("Привет", "DOWN-1"))
    assert response.status == 503
    assert (await _refusal(response))["error"] == "unavailable"


async def test_branch_is_resolved_from_instance_id(client, db, demo, chatflow) -> None:
    from storage.repositories import clients

    await clients.add_branch(db, demo.id, "center", "Центр", instance_id="inst-center", knowledge_tag="center")
    await clients.add_branch(db, demo.id, "north", "Север", instance_id="inst-north")
    response = await post(client, text_payload("Привет", "BR-1"), instance_id="inst-north")
    assert response.status == 200
    await wait_for(lambda: chatflow.delivered())
    assert chatflow.delivered()[0]["instance_id"] == "inst-north"
    branch = await db.fetchval("SELECT b.slug FROM conversations c JOIN branches b ON b.id = c.branch_id")
    assert branch == "north"


async def test_nul_characters_and_lone_surrogates_are_stored_not_refused(client, db, chatflow) -> None:
    raw = ('{"messageType": "text", "message": "При\\u0000вет \\ud800", '
           '"metadata": {"sender": "Ай\\u0000герим", "messageId": "NUL-1", '
           '"remoteJid": "77011234567@s.whatsapp.net"}, "extra": {"x\\u0000": "\\u0000"}}')
    response = await client.post("/webhook/demo_salon", data=raw.encode(),
                                 params={"webhook_secret": WEBHOOK_SECRET},
                                 headers={"Content-Type": "application/json"})
    assert response.status == 200, await response.text()
    await wait_for(lambda: chatflow.delivered())
    assert await db.fetchval("SELECT content FROM messages WHERE role = 'user'") == "Привет ?"
    assert await db.fetchval("SELECT name FROM users") == "Айгерим"


async def test_legacy_webhook_empty_body_is_a_probe(client, db) -> None:
    response = await client.post("/webhook", data=b"", params={"webhook_secret": WEBHOOK_SECRET})
    assert response.status == 200
    assert await _stored(db) == (0, 0, 0)


async def test_branch_does_not_change_while_a_manager_has_the_request(client, db, demo) -> None:
    from storage.repositories import clients

    north = await clients.add_branch(db, demo.id, "north", "Север", instance_id="inst-north")
    await clients.add_branch(db, demo.id, "south", "Юг", instance_id="inst-south")
    await post(client, text_payload("позовите менеджера", "BR-A"), instance_id="inst-north")
    await wait_for(lambda: db.fetchval("SELECT state = 'pending' FROM conversations"))
    await post(client, text_payload("алло", "BR-B"), instance_id="inst-south")
    assert await db.fetchval("SELECT branch_id FROM conversations") == north.id


async def test_a_manager_s_reply_leaves_on_the_number_the_customer_last_wrote_on(
        client, db, demo, chatflow) -> None:
    """PRODUCT.md §2: replies go out through the instance the message came in on: the bot's
    and, later, a manager's. Here the client has a second number that is no branch's, and then
    a customer with an open request writes on a branch's number (the request stays where it is)."""
    from core.desk import Actor, Desk
    from core.relay import ManagerMessage, Relay
    from storage.repositories import clients
    from storage.store import PgStore

    async def manager_says(conversation, key: str) -> str:
        store = PgStore(db)
        outcome = await Relay(store, Desk(store)).manager_to_customer(ManagerMessage(
            conversation_id=conversation, source_key=key, manager=Actor(501, "Айдана"),
            text="Здравствуйте, это менеджер"))
        assert outcome.relayed
        return await db.fetchval("SELECT payload->>'instance_id' FROM outbox WHERE "
                                 "idempotency_key = $1", f"tg-relay:{conversation}:{key}")

    await post(client, text_payload("позовите менеджера", "IN-1"), instance_id="inst-second")
    await wait_for(lambda: db.fetchval("SELECT state = 'pending' FROM conversations"))
    conversation = await db.fetchval("SELECT id FROM conversations")
    assert await db.fetchval("SELECT instance_id FROM conversations") == "inst-second"
    assert chatflow.delivered()[0]["instance_id"] == "inst-second"  # the bot's "passed on"
    assert await manager_says(conversation, "m-1") == "inst-second"  # not inst-demo_salon

    south = await clients.add_branch(db, demo.id, "south", "Юг", instance_id="inst-south")
    await post(client, text_payload("алло, вы где", "IN-2"), instance_id="inst-south")
    await wait_for(lambda: db.fetchval("SELECT instance_id = 'inst-south' FROM conversations"))
    assert await db.fetchval("SELECT branch_id FROM conversations") is None  # the request stays
    assert await manager_says(conversation, "m-2") == "inst-south"

    # the operator replaces the branch's number: the old one is gone, so the reply falls back
    # (no instance in the message: the sender takes the conversation's branch's, else the
    # client's own number)
    await clients.update_branch(db, south.id, {"instance_id": "inst-south-2"})
    assert await db.fetchval("SELECT instance_id FROM conversations") is None
    assert await manager_says(conversation, "m-3") is None
    # the same for the client's own number
    await post(client, text_payload("я тут", "IN-3"), instance_id="inst-demo_salon")
    await wait_for(lambda: db.fetchval("SELECT instance_id = 'inst-demo_salon' FROM conversations"))
    await clients.update_settings(db, demo.id, {"chatflow_instance_id": "inst-new"})
    assert await db.fetchval("SELECT instance_id FROM conversations") is None


async def test_the_clients_own_number_is_not_taken_for_its_only_branch(client, db, demo, chatflow) -> None:
    """The client answers on inst-demo_salon; its one branch has another number. A message
    without an instance (the main number's webhook URL) or with the client's own instance stays
    at client level and is answered from the number it came in on."""
    from storage.repositories import clients

    await clients.add_branch(db, demo.id, "north", "Север", instance_id="inst-north", knowledge_tag="north")
    await post(client, text_payload("Привет", "OWN-1", jid="77010000001@s.whatsapp.net"))
    await post(client, text_payload("Привет", "OWN-2", jid="77010000002@s.whatsapp.net"),
               instance_id="inst-demo_salon")
    await post(client, text_payload("Привет", "OWN-3", jid="77010000003@s.whatsapp.net"),
               instance_id="inst-north")
    await wait_for(lambda: len(chatflow.delivered()) == 3)
    by_jid = {c["jid"]: c["instance_id"] for c in chatflow.delivered()}
    assert by_jid == {"77010000001@s.whatsapp.net": "inst-demo_salon",
                      "77010000002@s.whatsapp.net": "inst-demo_salon",
                      "77010000003@s.whatsapp.net": "inst-north"}
    branches = dict(await db.fetch(
        "SELECT u.remote_jid, b.slug FROM conversations c JOIN users u ON u.id = c.user_id "
        "LEFT JOIN branches b ON b.id = c.branch_id"))
    assert branches == {"77010000001@s.whatsapp.net": None, "77010000002@s.whatsapp.net": None,
                        "77010000003@s.whatsapp.net": "north"}


async def test_a_single_branch_without_a_number_of_the_client_is_implied(client, db, demo, chatflow) -> None:
    from storage.repositories import clients

    await clients.update_settings(db, demo.id, {"chatflow_instance_id": None})
    await clients.add_branch(db, demo.id, "only", "Единственный", instance_id="inst-only")
    await post(client, text_payload("Привет", "IMPL-1"))
    await wait_for(lambda: chatflow.delivered())
    assert chatflow.delivered()[0]["instance_id"] == "inst-only"


async def test_a_webhook_counts_while_it_is_handled(client, db: asyncpg.Pool) -> None:
    """The route's count rises while the event's write waits (the table locked here) and falls
    when it is answered, also when it fails."""
    load = client.app[INGEST]
    async with db.acquire() as locker, locker.transaction():
        await locker.execute("LOCK TABLE inbound_events IN EXCLUSIVE MODE")
        pending = asyncio.create_task(post(client, text_payload("Привет", "LOAD-1")))
        await wait_for(lambda: load.in_flight == 1, timeout=2, interval=0.01)
        assert not pending.done()
    assert (await pending).status == 200
    assert load.in_flight == 0
    refused = await client.post("/webhook/demo_salon", data=b"{not json",
                                params={"webhook_secret": "wrong"})
    assert refused.status in (400, 401) and load.in_flight == 0
