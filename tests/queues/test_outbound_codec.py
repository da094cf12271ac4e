"""An outbox row's payload reads back as the message that was written (`core.outbound`), its
typed fields restored (uuids, enums, tuples, a nested topic message), whichever types were
decoded before it (the types' fields are worked out once)."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from core.models import HandoverStatus
from core.outbound import (
    CardUpdate,
    CustomerText,
    Mirror,
    Purpose,
    TopicMessage,
    UndecodableMessage,
    decode,
    encode,
)


def round_trip(message):
    channel, kind, payload = encode(message)
    return decode(channel, kind, json.loads(json.dumps(payload)))  # as stored: plain JSON


def test_messages_read_back_as_written_again_and_again() -> None:
    conversation, handover = uuid4(), uuid4()
    messages = [
        CustomerText(conversation, "7701@s.whatsapp.net", "hi", branch_id=uuid4(),
                     on_failed=TopicMessage(conversation, "not delivered", handover_id=handover),
                     purpose=Purpose.REPLY),
        Mirror(conversation, ("one", "two")),
        CardUpdate(conversation, handover, HandoverStatus.RESOLVED),
    ]
    for _ in range(3):
        assert [round_trip(m) for m in messages] == messages


def test_an_unknown_kind_or_a_bad_field_is_undecodable() -> None:
    with pytest.raises(UndecodableMessage):
        decode("whatsapp", "no_such_kind", {})
    with pytest.raises(UndecodableMessage):
        decode("telegram", "mirror", {"conversation_id": "not a uuid", "lines": []})
