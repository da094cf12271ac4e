"""A manager's file that cannot be downloaded from Telegram's file server (an HTTP error, a cut
connection) costs only the file: the manager is told, and the caption still reaches the customer."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.fakes import wait_for
from tests.telegram.conftest import JID, open_request, serve_fake
from tests.telegram.fakes import GROUP_A, TOKEN_A, FakeTelegram, topic_message

NOT_RELAYED = "❌ Не доставлено: файл не удалось передать клиенту"


class BrokenFiles(FakeTelegram):
    """getFile answers, but the file server fails the download itself."""

    status = 502

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(status=self.status, text="upstream error")


@pytest.fixture
async def tg(aiohttp_server) -> FakeTelegram:
    return await serve_fake(aiohttp_server, BrokenFiles())


@pytest.mark.parametrize("status", [502, 404])
async def test_a_failed_file_download_still_relays_the_caption(start_app, tg_settings, db, tg,
                                                               chatflow, client_a,
                                                               status: int) -> None:
    tg.status = status
    client = await start_app(tg_settings)
    await open_request(db, client_a)
    await wait_for(lambda: tg.of("pinChatMessage"))
    tg.push_update(TOKEN_A, topic_message(
        GROUP_A, 10, message_id=950, caption="Вот прайс",
        photo=[{"file_id": "ph-big", "file_unique_id": "b", "width": 900, "height": 900}]))

    (sent,) = await wait_for(lambda: chatflow.delivered())
    assert (sent["endpoint"], sent["jid"], sent["msg"]) == ("send-text", JID, "Вот прайс")
    await wait_for(lambda: NOT_RELAYED in tg.sent_texts())
    assert tg.of("getFile")  # the download was tried
    media_dir = tg_settings.data_dir / "media"
    assert not media_dir.exists() or list(media_dir.iterdir()) == []  # no partial file left
    assert client.app is not None
