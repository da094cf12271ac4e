"""`python -m benchmarks.run --smoke` (issue 10: "CI may run it in a 30-second smoke mode"): the
benchmark is the source of the README's performance figures, so it must keep working. The
instant profile with the Python load generator (wrk may not be installed) and two bursts against
this session's PostgreSQL server; nothing here is timed, only that every customer of the burst
was answered and that the table has each measure; and `benchmarks.ab`'s side-by-side table."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from benchmarks.ab import comparison, parse_rows
from benchmarks.run import Sizes

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Sizes.smoke()


async def test_the_benchmark_runs_in_smoke_mode_and_answers_every_customer(server_dsn: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.run", "--smoke", "--profiles", "instant",
        "--load", "python", "--bursts", "2", cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_URL": server_dsn},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    text = output.decode()
    assert process.returncode == 0, text[-3000:]

    table = parse_rows(text)
    turns = int(re.search(r"\((\d+) turns\)", table["instant", "drain a burst"]).group(1))
    assert turns >= SMOKE.customers  # each customer's two messages got at least one reply
    for measure in ("start to first 200 on /health", "ingest c=64 (python)",
                    "CPU per turn (gateway)", "PostgreSQL transactions per message",
                    "webhook → send-text at 50/s"):
        assert re.search(r"\d", table["instant", measure]), measure
    bursts = table["instant", "2 bursts in a row, turns/s: median (least–most)"]
    assert re.match(r"\d+ \(\d+–\d+\); after", bursts), bursts
    assert re.match(r"p50 [\d.]+ ms", table["queue", f"claim with {SMOKE.backlog} events waiting"])


def test_the_ab_comparison_puts_each_measure_of_both_sides_in_one_row() -> None:
    def output(turns: int, cpu: float) -> str:
        return ("  drain a burst: chatter that is not the table\n\n"
                "| profile | measure | value |\n| --- | --- | --- |\n"
                f"| instant | drain a burst | 2000 messages answered in 5.0 s (1019 turns): "
                f"402 messages/s, {turns} turns/s |\n"
                f"| instant | CPU per turn (gateway) | {cpu} ms |\n")

    old = [parse_rows(output(126, 6.6)), parse_rows(output(127, 6.6))]
    new = [parse_rows(output(174, 4.7)), {}]  # a measure a run lacks shows as "-"
    assert comparison(old, new).splitlines()[2:] == [
        "| instant | drain a burst | 402 messages/s, 126 turns/s / 402 messages/s, 127 turns/s "
        "| 402 messages/s, 174 turns/s / - |",
        "| instant | CPU per turn (gateway) | 6.6 ms / 6.6 ms | 4.7 ms / - |",
    ]
