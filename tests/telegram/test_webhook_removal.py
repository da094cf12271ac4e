"""Webhook mode: a bot that a client no longer uses (its token removed, or replaced by another
bot's) is told `deleteWebhook`, so that it stops posting updates to the gateway."""

from __future__ import annotations

from gateway.settings import TelegramMode
from tests.fakes import wait_for
from tests.telegram.fakes import TOKEN_A, TOKEN_B

TOKEN_C = "333333:AAfake-token-for-client-c_0123456789"
TOKEN_A_REGENERATED = "111111:AAregenerated-token-client-a_987654"


async def test_removed_and_replaced_bots_get_delete_webhook(start_app, tg_settings, db, tg,
                                                            client_a, client_b) -> None:
    await start_app(tg_settings.model_copy(update={"telegram_mode": TelegramMode.WEBHOOK}))
    await wait_for(lambda: len(tg.of("setWebhook")) == 2)
    assert tg.of("deleteWebhook") == []

    tg.fail("deleteWebhook", times=1)  # Telegram unreachable once: tried again on the next rescan
    await db.execute("UPDATE client_settings SET telegram_bot_token = $2 WHERE client_id = $1",
                     client_a.id, TOKEN_C)
    await db.execute("UPDATE client_settings SET telegram_bot_token = NULL WHERE client_id = $1",
                     client_b.id)
    await wait_for(lambda: tg.of("setWebhook", token=TOKEN_C))
    await wait_for(lambda: len(tg.of("deleteWebhook")) == 3)  # one failed, then both
    assert sorted(c.token for c in tg.of("deleteWebhook")[1:]) == sorted([TOKEN_A, TOKEN_B])
    assert tg.of("setWebhook", token=TOKEN_C)[0].params["url"] == \
        "http://gateway.test/telegram-webhook/salon_a"


async def test_a_regenerated_token_of_the_same_bot_is_not_unhooked(start_app, tg_settings, db, tg,
                                                                   client_a) -> None:
    await start_app(tg_settings.model_copy(update={"telegram_mode": TelegramMode.WEBHOOK}))
    await wait_for(lambda: tg.of("setWebhook"))
    await db.execute("UPDATE client_settings SET telegram_bot_token = $2 WHERE client_id = $1",
                     client_a.id, TOKEN_A_REGENERATED)
    await wait_for(lambda: tg.of("setWebhook", token=TOKEN_A_REGENERATED))
    assert tg.of("deleteWebhook") == []  # the same bot: its new setWebhook replaced the old one
