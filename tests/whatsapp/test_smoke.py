from tests.fakes import wait_for
from tests.whatsapp.conftest import JID, post, text_payload


async def test_text_webhook_yields_one_reply(start_app, wa_settings, demo, chatflow) -> None:
    client = await start_app(wa_settings)
    response = await post(client, text_payload("Привет", "M-1"))
    body = await response.json()
    assert response.status == 200, body
    assert body["success"] is True and body["conversation_id"]
    await wait_for(lambda: chatflow.delivered())
    (call,) = chatflow.delivered()
    assert call["endpoint"] == "send-text"
    assert call["token"] == "cf-token-demo_salon"
    assert call["instance_id"] == "inst-demo_salon"
    assert call["jid"] == JID
    assert "Здравствуйте" in call["msg"]
