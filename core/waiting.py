"""Waiting for an event with a time limit, in loops that are stopped by cancelling them."""

from __future__ import annotations

import asyncio


async def event_or_timeout(event: asyncio.Event, timeout: float) -> bool:
    """True once `event` is set, False after `timeout` seconds. Not `asyncio.wait_for`: on Python
    3.11 it returns the inner result when a cancellation arrives in the same turn of the event
    loop as the event, and the cancellation is lost; a loop waiting this way then never ends
    (seen: a gateway's shutdown waiting forever on the knowledge follower it had cancelled)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
