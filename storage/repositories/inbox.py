"""The durable inbox: inbound events stored before they are acknowledged, and the turn queue
(`turn_queue`, migration 0005) that hands them out one conversation turn at a time, in arrival
order, after the debounce window, at most what the flood shield lets a turn carry
(`core.flood`), and fairly over the clients.

Every statement here touches a bounded number of rows through an index (each client's earliest
due conversations, the conversation's waiting events), so a claim costs the same with 100 events
waiting or 20,000 and whatever the table statistics say."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.flood import DEFAULT_LIMITS, TurnLimits
from core.ports import LostClaim, TurnView
from storage.repositories.conversations import turn_view_columns, turn_view_from_row

NOTIFY_CHANNEL = "truffles_inbox"
MAX_WAIT_SECONDS = 10.0  # PRODUCT.md §4: a burst is answered after 10 s at the latest


@dataclass(frozen=True, slots=True)
class InboundEvent:
    id: int
    client_id: UUID
    conversation_id: UUID
    branch_id: UUID | None
    provider_message_id: str
    payload: dict[str, Any]
    attempts: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedTurn:
    conversation_id: UUID
    token: int  # the claim's fencing token (the turn's attempt number)
    events: list[InboundEvent]
    flooding: bool = False  # the customer floods (core.flood): merged events, one note
    # Events past what this turn took may wait (the flood shield's caps stopped it): its
    # conversation stays in the queue when the turn ends. True when not known.
    more_waiting: bool = True
    # The conversation as the claim read it (`claim_turns(view_history=...)`), None if not read.
    view: TurnView | None = None


def _event(row: asyncpg.Record) -> InboundEvent:
    return InboundEvent(
        id=row["id"], client_id=row["client_id"], conversation_id=row["conversation_id"],
        branch_id=row["branch_id"], provider_message_id=row["provider_message_id"],
        payload=row["payload"], attempts=row["attempts"], received_at=row["received_at"],
    )


@dataclass(frozen=True, slots=True)
class NewEvent:
    client_id: UUID
    branch_id: UUID | None
    channel: str
    remote_jid: str
    name: str | None
    provider_message_id: str
    payload: dict[str, Any]
    debounce: float


async def accept_many(db: asyncpg.Connection | asyncpg.Pool,
                      events: Sequence[NewEvent]) -> list[tuple[UUID, int | None]]:
    """Several events in one statement (one round trip, one commit), in order."""
    rows = await db.fetch(
        """SELECT r.conversation_id, r.event_id
             FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::jsonb[], $8::float8[])
                  WITH ORDINALITY AS e(client_id, branch_id, channel, jid, name, provider_id,
                                       payload, debounce, n)
            CROSS JOIN LATERAL accept_inbound_event(e.client_id, e.branch_id, e.channel, e.jid,
                                                    e.name, e.provider_id, e.payload, e.debounce,
                                                    $9) AS r
            ORDER BY e.n""",
        [e.client_id for e in events], [e.branch_id for e in events],
        [e.channel for e in events], [e.remote_jid for e in events], [e.name for e in events],
        [e.provider_message_id for e in events], [e.payload for e in events],
        [e.debounce for e in events], MAX_WAIT_SECONDS,
    )
    return [(r["conversation_id"], r["event_id"]) for r in rows]


CLAIM_CANDIDATES = """
    SELECT q.conversation_id, q.client_id, q.due_at,
           (SELECT count(*) FROM turn_queue l WHERE l.client_id = c.id AND l.leased) AS busy
      FROM clients c
     CROSS JOIN LATERAL (SELECT conversation_id, client_id, due_at FROM turn_queue q
                          WHERE q.client_id = c.id AND q.due_at <= now()
                          ORDER BY q.due_at LIMIT $1) q
"""

# Lease the chosen conversations that are still due (a conversation another worker leased
# meanwhile is skipped) and take the waiting events each turn gets (core.flood): in order, at
# most max_events, and not past max_chars of text after the first, unless the customer floods
# (more than per_minute messages in the minute up to their latest waiting one: merged, whatever
# their length). With $6 (history lines) not null, each turn's conversation view comes along,
# on the turn's first row: the read the turn would make next, in the same round trip (a turn's
# decision is re-checked against the conversation's state when it is applied, whenever it was
# read). One statement: one round trip, no transaction to open and commit.
_CLAIM = f"""
    WITH chosen AS (SELECT conversation_id FROM turn_queue
                     WHERE conversation_id = ANY($1::uuid[]) AND due_at <= now()
                       FOR UPDATE SKIP LOCKED),
    leased AS (
        UPDATE turn_queue q SET leased = true, attempts = q.attempts + 1, due_at = now() + $2
          FROM chosen WHERE q.conversation_id = chosen.conversation_id
        RETURNING q.conversation_id, q.client_id, q.attempts, q.last_at),
    turn AS (
        SELECT l.conversation_id, l.attempts AS token, l.last_at,
               coalesce(s.max_events_per_turn, $3) AS max_events,
               coalesce(s.max_turn_chars, $4) AS max_chars,
               coalesce(s.flood_messages_per_minute, $5) AS per_minute
          FROM leased l LEFT JOIN client_settings s ON s.client_id = l.client_id),
    flood AS (
        SELECT turn.*, (SELECT count(*) FROM (
                            SELECT 1 FROM inbound_events e
                             WHERE e.conversation_id = turn.conversation_id
                               AND e.received_at > turn.last_at - interval '1 minute'
                             LIMIT turn.per_minute + 1) recent) > turn.per_minute AS flooding
          FROM turn),
    waiting AS (
        SELECT f.conversation_id, f.flooding, f.max_chars, w.id,
               row_number() OVER (PARTITION BY f.conversation_id ORDER BY w.id) AS n,
               sum(w.chars) OVER (PARTITION BY f.conversation_id ORDER BY w.id) AS chars_through
          FROM flood f CROSS JOIN LATERAL (
               SELECT e.id, length(coalesce(e.payload #>> '{{inbound,text}}',
                                            e.payload #>> '{{message,text}}', '')) AS chars
                 FROM inbound_events e
                WHERE e.conversation_id = f.conversation_id AND e.status IN ('queued', 'processing')
                ORDER BY e.id LIMIT f.max_events) w),
    taken AS (
        UPDATE inbound_events e SET status = 'processing', attempts = e.attempts + 1,
                                    locked_until = now() + $2
          FROM waiting w
         WHERE e.id = w.id AND (w.n = 1 OR w.flooding OR w.chars_through <= w.max_chars)
        RETURNING e.*),
    -- MATERIALIZED: read once a turn (inlined, it ran once for each of the turn's events)
    turn_view AS MATERIALIZED (
        SELECT {turn_view_columns("$6::int")}
          FROM leased l JOIN conversations c ON c.id = l.conversation_id
          JOIN users u ON u.id = c.user_id
         WHERE $6::int IS NOT NULL)
    SELECT f.conversation_id AS turn_of, f.token AS turn_token, f.flooding,
           f.max_events AS turn_max_events,
           (SELECT count(*) FROM waiting w WHERE w.conversation_id = f.conversation_id)
               AS turn_waiting,
           taken.*, turn_view.*
      FROM flood f
      LEFT JOIN (SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY id) AS nth
                   FROM taken) taken ON taken.conversation_id = f.conversation_id
      LEFT JOIN turn_view ON turn_view.view_id = f.conversation_id AND coalesce(taken.nth, 1) = 1
"""


@dataclass(frozen=True, slots=True)
class _Candidate:
    conversation_id: UUID
    client_id: UUID
    due_at: datetime
    busy: int  # the client's turns in progress


def fair_choice(candidates: Sequence[_Candidate], limit: int) -> list[UUID]:
    """Up to `limit` due conversations spread over the clients: each pick goes to the client
    with the fewest turns in progress (picks included), the earliest due first among equals.
    A client with a thousand waiting conversations gets its share, not every worker."""
    queues: dict[UUID, list[_Candidate]] = {}
    for candidate in sorted(candidates, key=lambda c: c.due_at, reverse=True):
        queues.setdefault(candidate.client_id, []).append(candidate)
    load = {client_id: waiting[0].busy for client_id, waiting in queues.items()}
    chosen: list[UUID] = []
    while queues and len(chosen) < limit:
        client_id = min(queues, key=lambda k: (load[k], queues[k][-1].due_at))
        chosen.append(queues[client_id].pop().conversation_id)
        load[client_id] += 1
        if not queues[client_id]:
            del queues[client_id]
    return chosen


async def claim_turns(pool: asyncpg.Pool, *, limit: int, lease: timedelta,
                      limits: TurnLimits = DEFAULT_LIMITS,
                      view_history: int | None = None) -> list[ClaimedTurn]:
    """Lease up to `limit` due conversations, fairly over the clients (`fair_choice`), each with
    the waiting events its turn takes (`limits`: the process defaults of the flood shield) and,
    with `view_history`, its conversation's view with that many history lines (`ClaimedTurn.view`).

    The candidates are each client's `limit` earliest due conversations, read on the
    (client_id, due_at) index: the cost grows with the number of clients, never with the
    backlog. A candidate another worker leased meanwhile is skipped (the claim takes fewer)."""
    candidates = [_Candidate(r["conversation_id"], r["client_id"], r["due_at"], r["busy"])
                  for r in await pool.fetch(CLAIM_CANDIDATES, limit)]
    chosen = fair_choice(candidates, limit)
    if not chosen:
        return []
    rows = await pool.fetch(_CLAIM, chosen, lease, limits.max_events_per_turn,
                            limits.max_turn_chars, limits.messages_per_minute, view_history)
    # a turn's own columns are on each of its rows, its view on one of them (whichever comes)
    first_rows: dict[UUID, asyncpg.Record] = {}
    events: dict[UUID, list[InboundEvent]] = {}
    for row in rows:
        if row["turn_of"] not in first_rows or row["view_id"] is not None:
            first_rows[row["turn_of"]] = row
        taken = events.setdefault(row["turn_of"], [])
        if row["id"] is not None:
            taken.append(_event(row))
    turns = {conversation_id: _turn(first_rows[conversation_id], sorted(taken, key=lambda e: e.id))
             for conversation_id, taken in events.items()}
    return [turns[conversation_id] for conversation_id in chosen if conversation_id in turns]


def _turn(row: asyncpg.Record, events: list[InboundEvent]) -> ClaimedTurn:
    """A claimed turn from a row of it (the one with its view, if any) and its events in order.
    `turn_waiting`: the waiting events the claim read, up to the cap (`turn_max_events`): some
    were not taken, or more may wait past the cap. Events claimed before (a retry, a turn taken
    over after its lease): the claim's snapshot may predate what their earlier attempt
    committed, so no view is handed on."""
    read, cap = row["turn_waiting"], row["turn_max_events"]
    fresh = all(e.attempts == 1 for e in events)
    return ClaimedTurn(row["turn_of"], row["turn_token"], events, flooding=row["flooding"],
                       more_waiting=read > len(events) or read >= cap,
                       view=turn_view_from_row(row) if fresh else None)


async def renew(pool: asyncpg.Pool, turns: Sequence[ClaimedTurn], lease: timedelta) -> None:
    """The heartbeat of turns still being worked on: their leases run `lease` from now.

    Rows another transaction holds are skipped, never waited for: a turn completing at this
    moment holds its events and its queue row (and needs no longer lease), and a heartbeat that
    waited on them while holding other rows could deadlock with it (seen under load: a
    completion and a heartbeat each holding one event of the other's set)."""
    if not turns:
        return
    turns = sorted(turns, key=lambda t: t.conversation_id)
    await pool.execute(
        """WITH held AS (
               SELECT q.conversation_id
                 FROM turn_queue q
                 JOIN unnest($1::uuid[], $2::int[]) AS h(conversation_id, token)
                   ON q.conversation_id = h.conversation_id AND q.attempts = h.token
                WHERE q.leased
                  FOR UPDATE OF q SKIP LOCKED)
           UPDATE turn_queue q SET due_at = now() + $3
             FROM held WHERE q.conversation_id = held.conversation_id""",
        [t.conversation_id for t in turns], [t.token for t in turns], lease)
    events = sorted((e.id, e.attempts) for t in turns for e in t.events)
    await pool.execute(
        """WITH held AS (
               SELECT e.id
                 FROM inbound_events e
                 JOIN unnest($1::bigint[], $2::int[]) AS h(id, attempts)
                   ON e.id = h.id AND e.attempts = h.attempts
                WHERE e.status = 'processing'
                  FOR UPDATE OF e SKIP LOCKED)
           UPDATE inbound_events e SET locked_until = now() + $3
             FROM held WHERE e.id = held.id""",
        [i for i, _ in events], [a for _, a in events], lease)


async def next_due_in(pool: asyncpg.Pool) -> float | None:
    """Seconds until the next turn is due (0 when one is), None when the queue is empty."""
    return await pool.fetchval(
        """SELECT greatest(0, extract(epoch FROM due_at - now()))::float8
             FROM turn_queue ORDER BY due_at LIMIT 1""")


# A conversation whose turn ended, given `rest` (its id and the first and last arrival of the
# events still waiting, NULL when none): it leaves the queue, or is due again after those
# events' debounce window (at most the longest wait after the first, at least `not_before`
# from now). `fence`: a condition the queue row must also meet (the claim's token).
_REQUEUE = """
         gone AS (DELETE FROM turn_queue q USING rest
                   WHERE q.conversation_id = rest.conversation_id AND rest.first_at IS NULL AND {fence}
                  RETURNING 1),
         waiting AS (
             UPDATE turn_queue q
                SET leased = false, first_at = rest.first_at, last_at = rest.last_at,
                    due_at = greatest(now() + {not_before},
                                      least(rest.last_at + make_interval(secs => s.debounce_seconds::float8),
                                            rest.first_at + make_interval(secs => {max_wait}::float8)))
               FROM rest, client_settings s
              WHERE q.conversation_id = rest.conversation_id AND rest.first_at IS NOT NULL AND {fence}
                AND s.client_id = q.client_id
             RETURNING 1)"""

_RESCHEDULE = f"""
    WITH rest AS (SELECT $1::uuid AS conversation_id, min(received_at) AS first_at,
                         max(received_at) AS last_at
                    FROM inbound_events
                   WHERE conversation_id = $1 AND status IN ('queued', 'processing')),
         {_REQUEUE.format(fence="(q.attempts = $2 OR $2 IS NULL)", not_before="$3",
                          max_wait="$4").strip()}
    SELECT 1
"""


async def reschedule(db: asyncpg.Connection | asyncpg.Pool, conversation_id: UUID,
                     token: int | None, *, not_before: timedelta = timedelta(0)) -> None:
    """End the turn's lease: the conversation leaves the queue, or, when events arrived during
    the turn, waits for its next turn (their debounce window, at least `not_before` from now).
    A claim that was taken over meanwhile (another token) changes nothing; `token` None: the
    caller has fenced the turn already (its events were still its own)."""
    await db.execute(_RESCHEDULE, conversation_id, token, not_before, MAX_WAIT_SECONDS)


# A turn's events marked done (or failed) and its queue row requeued (`_REQUEUE`) in one
# round trip: the events the turn still waits on are those of its conversation queued or
# processing, less its own (the statement sees them as they were before it). Fewer than all of
# its events `updated`: the claim was taken over, and the caller's LostClaim rolls it all back.
# The CTEs take SQL expressions; `gate`: FROM items the events are updated only with a row of.
def end_turn_ctes(ids: str, attempts: str, status: str, error: str, max_wait: str,
                  gate: str = "") -> str:
    return f"""
         claimed AS (SELECT * FROM unnest({ids}::bigint[], {attempts}::int[]) AS c(id, attempts)),
         updated AS (
             UPDATE inbound_events e
                SET status = {status}, processed_at = now(), locked_until = NULL,
                    last_error = coalesce({error}, e.last_error)
               FROM claimed{gate}
              WHERE e.id = claimed.id AND e.attempts = claimed.attempts
                AND e.status = 'processing'
             RETURNING e.conversation_id),
         turn AS (SELECT DISTINCT conversation_id FROM updated),
         rest AS (SELECT t.conversation_id, min(e.received_at) AS first_at,
                         max(e.received_at) AS last_at
                    FROM turn t
                    LEFT JOIN inbound_events e
                      ON e.conversation_id = t.conversation_id
                     AND e.status IN ('queued', 'processing') AND e.id <> ALL({ids}::bigint[])
                   GROUP BY t.conversation_id),
         {_REQUEUE.format(fence="true", not_before="interval '0'", max_wait=max_wait).strip()}"""


_END_TURN = f"WITH {end_turn_ctes('$1', '$2', '$3', '$4', '$5').strip()}\nSELECT count(*) FROM updated"


async def enqueue_missing(db: asyncpg.Connection | asyncpg.Pool) -> int:
    """Put conversations with waiting events but no queue entry back in the queue (rows written
    around the queue: an old backup, a hand edit). Returns how many were added."""
    result = await db.execute(
        """INSERT INTO turn_queue (conversation_id, client_id, first_at, last_at, due_at)
           SELECT e.conversation_id, min(e.client_id::text)::uuid, min(e.received_at),
                  max(e.received_at), now()
             FROM inbound_events e
            WHERE e.status IN ('queued', 'processing') AND e.conversation_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM turn_queue q WHERE q.conversation_id = e.conversation_id)
            GROUP BY e.conversation_id
           ON CONFLICT DO NOTHING""")
    return int(result.split()[-1])


class InboxRepo:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def mark_done(self, claims: Sequence[tuple[int, int]]) -> None:
        """The attempt number is the fencing token: a worker whose lease ran out and whose events
        were claimed again (attempts incremented) cannot complete them. The turn ends with them
        (`reschedule`): its conversation leaves the queue or waits for the events that came
        during the turn."""
        await self._end(claims, "done", None)

    async def mark_failed(self, claims: Sequence[tuple[int, int]], error: str) -> None:
        """The same for a turn given up: its events are kept as `failed`, with the error."""
        await self._end(claims, "failed", error[:2000])

    async def _end(self, claims: Sequence[tuple[int, int]], status: str, error: str | None) -> None:
        ids = [event_id for event_id, _ in claims]
        attempts = [attempt for _, attempt in claims]
        done = await self._conn.fetchval(_END_TURN, ids, attempts, status, error, MAX_WAIT_SECONDS)
        if done != len(claims):
            raise LostClaim(f"{len(claims) - done} of {len(claims)} events were claimed again")


async def release(pool: asyncpg.Pool, turn: ClaimedTurn, error: str, *,
                  retry_in: timedelta) -> None:
    """A turn failed: its events (still as claimed: same attempt) go back to the queue, their
    conversation due again after `retry_in`."""
    claims = [(e.id, e.attempts) for e in turn.events]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """WITH claimed AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS c(id, attempts))
               UPDATE inbound_events e SET status = 'queued', locked_until = NULL, last_error = $3
                 FROM claimed
                WHERE e.id = claimed.id AND e.attempts = claimed.attempts
                  AND e.status = 'processing'""",
            [i for i, _ in claims], [a for _, a in claims], error[:2000])
        await reschedule(conn, turn.conversation_id, turn.token, not_before=retry_in)
