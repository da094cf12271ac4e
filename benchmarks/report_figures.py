"""How long the owner's figures take to count (`storage/repositories/reports.figures`: the daily
report, `/stats` and the stats API share it), over a month of synthetic traffic: `--tenants`
clients with `--customers` customers each, every customer writing `--messages` messages (half
answered by the bot) spread over 30 days, one in five with a request (most taken and resolved).

Runs on a scratch database made on the server BENCH_DATABASE_URL points at (or an embedded
PostgreSQL) and dropped afterwards.

    .venv/bin/python benchmarks/report_figures.py [--tenants 20] [--customers 2000] [--messages 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from storage.database import scratch_database
from storage.embedded import EmbeddedPostgres
from storage.repositories import reports

SEED = """
INSERT INTO clients (slug, name) SELECT 'bench' || t, 'Bench ' || t FROM generate_series(1, {tenants}) t;
INSERT INTO client_settings (client_id, webhook_secret)
     SELECT id, 'bench-webhook-secret-0123' FROM clients;
INSERT INTO users (client_id, remote_jid, phone, name)
     SELECT c.id, (7700000000 + n) || '@s.whatsapp.net', (7700000000 + n)::text, 'Customer ' || n
       FROM clients c, generate_series(1, {customers}) n;
INSERT INTO conversations (client_id, user_id, telegram_chat_id, telegram_topic_id)
     SELECT u.client_id, u.id, -1001111111111, row_number() OVER () FROM users u;
INSERT INTO messages (conversation_id, role, content, metadata, created_at)
     SELECT v.id, CASE WHEN k % 2 = 0 THEN 'user' ELSE 'assistant' END, 'text',
            CASE WHEN k % 2 = 0 THEN '{{}}'::jsonb ELSE '{{"act": "answer"}}'::jsonb END,
            now() - random() * interval '30 days'
       FROM conversations v, generate_series(1, {messages}) k;
INSERT INTO handovers (conversation_id, client_id, trigger_type, trigger_value, status,
                       assigned_to, created_at, taken_at, resolved_at, resolution)
     SELECT v.id, v.client_id, 'intent', 'human_request', 'resolved', 1, at,
            at + random() * interval '40 minutes', at + interval '2 hours', 'resolved_by_manager'
       FROM (SELECT v.*, now() - random() * interval '30 days' AS at
               FROM conversations v WHERE random() < 0.2) v;
ANALYZE;
"""


async def main(tenants: int, customers: int, messages: int, runs: int) -> None:
    embedded = None
    server_dsn = os.environ.get("BENCH_DATABASE_URL")
    if not server_dsn:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="truffles-bench-")))
        server_dsn = await asyncio.to_thread(embedded.start)
    try:
        async with scratch_database(server_dsn, "truffles_bench_reports") as dsn:
            conn = await asyncpg.connect(dsn)
            started = time.perf_counter()
            await conn.execute(SEED.format(tenants=int(tenants), customers=int(customers),
                                           messages=int(messages)))
            total = await conn.fetchval("SELECT count(*) FROM messages")
            print(f"seeded {tenants} tenants x {customers} customers, {total} messages, "
                  f"{await conn.fetchval('SELECT count(*) FROM handovers')} requests "
                  f"in {time.perf_counter() - started:.1f} s")
            client_id = await conn.fetchval("SELECT id FROM clients ORDER BY slug LIMIT 1")
            now = datetime.now(UTC)
            for label, days in (("a day", 1), ("7 days", 7), ("30 days", 30)):
                timings = []
                for _ in range(runs):
                    begin = time.perf_counter()
                    figures = await reports.figures(conn, client_id, now - timedelta(days=days), now)
                    timings.append((time.perf_counter() - begin) * 1000)
                print(f"figures of {label:<8}: median {statistics.median(timings):6.1f} ms, "
                      f"max {max(timings):6.1f} ms ({figures.customers} customers, "
                      f"{figures.messages} messages, {figures.escalated} requests)")
            await conn.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.tenants, args.customers, args.messages, args.runs))
