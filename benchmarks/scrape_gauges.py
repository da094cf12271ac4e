"""How long a `GET /metrics` scrape spends reading the gauges (`storage/repositories/gauges.read`:
queue depths and ages, failed deliveries, open handovers) over a large history and a backlog:
`--tenants` clients with `--customers` customers each; per customer `--history` handled inbound
events and delivered outbox rows (the history a scrape must not read), 2 % of deliveries
failed, one request in five resolved; then `--backlog` items waiting in each queue, spread over
the clients (turns, inbound events, outbox rows, Telegram updates, pending requests).

Runs on a scratch database made on the server BENCH_DATABASE_URL points at (or an embedded
PostgreSQL) and dropped afterwards.

    .venv/bin/python benchmarks/scrape_gauges.py [--tenants 20] [--customers 2000] [--history 10]
                                                 [--backlog 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from prometheus_client import generate_latest

from gateway import scrape
from gateway.metrics import REGISTRY
from storage.database import create_pool, scratch_database
from storage.embedded import EmbeddedPostgres
from storage.repositories import gauges

SEED = """
INSERT INTO clients (slug, name) SELECT 'bench' || t, 'Bench ' || t FROM generate_series(1, {tenants}) t;
INSERT INTO client_settings (client_id, webhook_secret)
     SELECT id, 'bench-webhook-secret-0123' FROM clients;
INSERT INTO users (client_id, remote_jid)
     SELECT c.id, (7700000000 + n) || '@s.whatsapp.net' FROM clients c, generate_series(1, {customers}) n;
INSERT INTO conversations (client_id, user_id) SELECT client_id, id FROM users;
INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id, payload,
                            status, attempts, received_at, processed_at)
     SELECT v.client_id, 'whatsapp', v.id || ':' || k, v.id, '{{}}', 'done', 1,
            now() - random() * interval '30 days', now()
       FROM conversations v, generate_series(1, {history}) k;
INSERT INTO outbox (client_id, conversation_id, channel, kind, payload, idempotency_key, status,
                    attempts, created_at, sent_at)
     SELECT v.client_id, v.id, 'whatsapp', 'send_text', '{{}}', 'h:' || v.id || ':' || k,
            CASE WHEN random() < 0.02 THEN 'failed' ELSE 'sent' END, 1,
            now() - random() * interval '30 days', now()
       FROM conversations v, generate_series(1, {history}) k;
INSERT INTO handovers (conversation_id, client_id, trigger_type, status, assigned_to, taken_at,
                       resolved_at, resolution, created_at)
     SELECT id, client_id, 'intent', 'resolved', 1, now(), now(), 'resolved_by_manager',
            now() - random() * interval '30 days'
       FROM conversations WHERE random() < 0.2;
WITH waiting AS (SELECT * FROM conversations ORDER BY random() LIMIT {backlog})
INSERT INTO inbound_events (client_id, channel, provider_message_id, conversation_id, payload,
                            received_at)
     SELECT client_id, 'whatsapp', 'w:' || id, id, '{{}}', now() - random() * interval '5 minutes'
       FROM waiting;
INSERT INTO turn_queue (conversation_id, client_id, first_at, last_at, due_at)
     SELECT conversation_id, client_id, received_at, received_at, now()
       FROM inbound_events WHERE status = 'queued';
INSERT INTO outbox (client_id, conversation_id, channel, kind, payload, idempotency_key,
                    created_at)
     SELECT client_id, id, 'telegram', 'mirror', '{{}}', 'w:' || id, now() - random() * interval '1 hour'
       FROM (SELECT * FROM conversations ORDER BY random() LIMIT {backlog}) v;
INSERT INTO telegram_updates (client_id, update_id, payload)
     SELECT c.id, n, '{{}}' FROM clients c, generate_series(1, {backlog} / {tenants}) n;
"""
# one transaction: the state trigger checks conversation and handover together at commit
PENDING = """
UPDATE conversations SET state = 'pending'
 WHERE id IN (SELECT id FROM conversations c WHERE NOT EXISTS (
                  SELECT 1 FROM handovers h WHERE h.conversation_id = c.id)
              ORDER BY random() LIMIT {pending});
INSERT INTO handovers (conversation_id, client_id, trigger_type, created_at)
     SELECT id, client_id, 'intent', now() - random() * interval '2 hours'
       FROM conversations WHERE state = 'pending';
"""


async def main(tenants: int, customers: int, history: int, backlog: int, runs: int) -> None:
    embedded = None
    server_dsn = os.environ.get("BENCH_DATABASE_URL")
    if not server_dsn:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="truffles-bench-")))
        server_dsn = await asyncio.to_thread(embedded.start)
    try:
        async with scratch_database(server_dsn, "truffles_bench_scrape") as dsn:
            conn = await asyncpg.connect(dsn)
            started = time.perf_counter()
            await conn.execute(SEED.format(tenants=tenants, customers=customers, history=history,
                                           backlog=backlog))
            await conn.execute(PENDING.format(pending=backlog // 10))
            # as autovacuum leaves them: the given-up rows (which never change) counted on their
            # index alone
            await conn.execute("VACUUM ANALYZE")
            print(f"seeded {tenants} tenants x {customers} customers: "
                  f"{await conn.fetchval('SELECT count(*) FROM inbound_events')} inbound events, "
                  f"{await conn.fetchval('SELECT count(*) FROM outbox')} outbox rows, "
                  f"{await conn.fetchval('SELECT count(*) FROM handovers')} handovers, "
                  f"{backlog} waiting per queue, in {time.perf_counter() - started:.1f} s")
            await conn.close()
            pool = await create_pool(dsn, max_size=2)
            reads, scrapes = [], []
            for _ in range(runs):
                begin = time.perf_counter()
                reading = await gauges.read(pool)
                reads.append((time.perf_counter() - begin) * 1000)
                scrape.COLLECTOR.reading = scrape.Reading(reading, {}, True)
                body = generate_latest(REGISTRY)
                scrapes.append((time.perf_counter() - begin) * 1000)
            await pool.close()
            print(f"gauges read: median {statistics.median(reads):.1f} ms, max {max(reads):.1f} ms; "
                  f"whole scrape: median {statistics.median(scrapes):.1f} ms "
                  f"({len(body) // 1024} KiB of text)")
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.tenants, args.customers, args.history, args.backlog, args.runs))
