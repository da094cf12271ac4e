"""The gateway's numbers, measured against the real `python -m gateway serve` (a subprocess),
instant fake peers (`benchmarks/peers.py`) and PostgreSQL on the same machine:

- start: `serve` to the first 200 on /health, on an existing database;
- idle: RSS and CPU of an idle gateway;
- ingest at c=1/16/64: webhook requests per second and latency (each 200 after its commit);
- drain: turns per second while a burst of messages from many customers is answered, CPU per
  turn in the gateway, where the machine's CPU went meanwhile (gateway, PostgreSQL, this
  process's fake peers), PostgreSQL transactions per message; and the turns answered after the
  burst's last webhook was acknowledged (while webhooks pour in, a process runs one turn at a
  time and acknowledges first: `gateway/ingest_load.py`);
- paced: webhook → ChatFlow send-text latency at a steady 50 messages per second;
- backlog: a claim's cost with 100 events waiting and with 20,000, the statistics taken while
  the queue was empty;
- machine: the speed of plain CPython work at the start and at the end (`interpreter_speed`).

Two profiles: `instant` (a fake embedder and a fake LLM that answer at once: the gateway's own
cost) and `bundled` (the bundled e5 model, no LLM: the embedded default).

    python -m benchmarks.run [--smoke] [--profiles instant,bundled] [--load wrk|python]
                             [--py-spy DIR] [--processes N] [--llm-seconds S] [--bursts N]
                             [--gateway-root DIR]

The ingest load comes from wrk (`benchmarks/ingest.lua`: a unique messageId per request,
customers in turn) when `wrk` is on PATH, from the Python generator in this process otherwise;
the table says which (`--load python` forces the Python one). `--py-spy DIR` records a raw
py-spy profile of the gateway per phase (ingest at c=64, drain, paced) into DIR.
`--llm-seconds S`: the fake LLM answers each call after S seconds (a real model's latency; the
instant profile makes two calls a turn), which shows the turns a second that WORKERS allow when
turns wait on the model rather than on the CPU. `--bursts N` drains N bursts in a row and adds
the median, least and most of their rates: the machine's swing within one run. `--gateway-root
DIR` serves another source tree's gateway (`benchmarks.ab`: old and new code in turn).

BENCH_DATABASE_URL (default: TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres)
names the server; a scratch database is made and dropped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aiohttp import ClientSession, TCPConnector

from benchmarks.peers import Peers
from core.pipeline import HISTORY_LINES
from storage.database import create_pool, scratch_database
from storage.repositories import inbox

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["сколько стоит маникюр?", "где вы находитесь?", "до скольки работаете?",
             "есть парковка?", "как записаться?", "сколько стоит педикюр?"]


@dataclass
class Sizes:
    ingest: int = 3000  # requests per concurrency level
    burst: int = 2000  # messages in the drain burst
    customers: int = 1000
    paced_seconds: float = 10.0
    backlog: int = 20_000
    claims: int = 1000  # timed at each backlog size: the p99 is the tenth worst, not the second
    bursts: int = 1  # drains in a row (--bursts): the machine's swing within one run

    @staticmethod
    def smoke() -> Sizes:
        return Sizes(ingest=200, burst=200, customers=100, paced_seconds=2.0, backlog=2000,
                     claims=200)


@dataclass
class Report:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, profile: str, what: str, value: str) -> None:
        self.rows.append((profile, what, value))
        print(f"  {what}: {value}", flush=True)

    def table(self) -> str:
        lines = ["| profile | measure | value |", "| --- | --- | --- |"]
        lines += [f"| {p} | {w} | {v} |" for p, w, v in self.rows]
        return "\n".join(lines)


def interpreter_speed() -> float:
    """Microseconds of plain CPython work (`sum(range(1000))`, the best of five): a machine of
    this kind swings with its neighbours (12-20 µs within an hour, 2026-12-06), so the figures
    of two runs compare only at similar speeds."""
    return min(timeit.repeat("sum(range(1000))", number=20_000, repeat=5)) / 20_000 * 1e6


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def process_tree(pid: int) -> list[int]:
    """The process and its children: `serve --processes N` is a supervisor and N gateways."""
    return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def proc_cpu(pid: int) -> float:
    """Seconds of CPU the process and its children have used."""
    ticks = sum(stat_ticks(Path(f"/proc/{member}/stat"))[1] for member in process_tree(pid))
    return ticks / os.sysconf("SC_CLK_TCK")


def stat_ticks(stat: Path) -> tuple[str, int]:
    """A process's name and its user + system CPU in clock ticks, from its /proc/PID/stat."""
    name, fields = stat.read_text().split(" (", 1)[1].rsplit(")", 1)
    values = fields.split()
    return name, int(values[11]) + int(values[12])


def postgres_cpu() -> float:
    """Seconds of CPU the machine's PostgreSQL processes have used (those alive now: the
    benchmark's and the gateway's connections live through a phase)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, used = stat_ticks(stat)
        except OSError:  # gone meanwhile
            continue
        if name == "postgres":
            ticks += used
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """Seconds of CPU the whole machine has been busy (every core, idle and iowait left out)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid: int) -> float:
    """The resident memory of the process and its children."""
    return sum(int(line.split()[1]) / 1024 for member in process_tree(pid)
               for line in Path(f"/proc/{member}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))


class Gateway:
    """`python -m gateway serve` on a free port, against the scratch database."""

    def __init__(self, dsn: str, peers: Peers, profile: str, port: int, processes: int,
                 root: Path = ROOT) -> None:
        self.root = root  # the source tree served: this checkout, or another revision's
        self.port = port
        self.processes = processes
        self.url = f"http://127.0.0.1:{port}"
        self._env = {**os.environ, "DATABASE_URL": dsn, "PORT": str(port), "LOG_LEVEL": "WARNING",
                     "DATA_DIR": tempfile.mkdtemp(prefix="truffles-bench-"),
                     "CHATFLOW_API_BASE": peers.url("/chatflow"), "DEMO_SEED": "true",
                     "PYTHONPATH": str(root)}
        if profile == "instant":
            self._env.update(EMBEDDINGS_PROVIDER="tei", EMBEDDINGS_URL=peers.url("/tei"),
                             EMBEDDINGS_MODEL="bge-m3", OPENAI_BASE_URL=peers.url("/openai/v1"),
                             OPENAI_API_KEY="bench")
        self.process: asyncio.subprocess.Process | None = None
        self.log = Path(self._env["DATA_DIR"]) / "serve.log"  # the gateway's own log lines

    async def start(self, http: ClientSession) -> float:
        started = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--processes", str(self.processes),
            env=self._env, cwd=self.root,
            stderr=self.log.open("ab"))
        while True:
            try:
                async with http.get(f"{self.url}/health") as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            if self.process.returncode is not None:
                raise RuntimeError("the gateway exited during start-up")
            await asyncio.sleep(0.05)

    async def ready(self, http: ClientSession) -> None:
        """Until /ready is 200 and the knowledge base (opened in the background) is open and
        settled (the decision examples' vectors stored, the demo knowledge loaded)."""
        while True:
            async with http.get(f"{self.url}/ready") as response:
                checks = (await response.json()).get("checks", {})
                if response.status == 200 and checks.get("knowledge", {}).get("status") == "ok":
                    return
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()

    def discard(self) -> None:
        """Its data directory (the log, the embedded store) gone: the run went well. A run that
        failed keeps it and names the log."""
        shutil.rmtree(self._env["DATA_DIR"], ignore_errors=True)


async def post_all(http: ClientSession, url: str, secret: str, bodies: list[dict],
                   concurrency: int) -> list[float]:
    """Post the bodies with `concurrency` requests in flight; each request's latency."""
    latencies: list[float] = []
    queue = list(reversed(bodies))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with http.post(url, json=body, params={"webhook_secret": secret}) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"webhook answered {response.status}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


@dataclass
class Ingest:
    requests: int
    seconds: float
    p50: float  # seconds
    p99: float
    # seconds of CPU the load generator used (the Python one: the benchmark process's, the fake
    # peers' included)
    generator_cpu: float

    def describe(self) -> str:
        return (f"{self.requests / self.seconds:.0f} req/s, p50 {self.p50 * 1000:.1f} ms, "
                f"p99 {self.p99 * 1000:.1f} ms")


async def ingest_python(http: ClientSession, url: str, secret: str, prefix: str, total: int,
                        customers: int, concurrency: int) -> Ingest:
    bodies = [message(i % customers, f"{prefix}-{i}") for i in range(total)]
    cpu, started = time.process_time(), time.perf_counter()
    latencies = await post_all(http, url, secret, bodies, concurrency)
    return Ingest(len(latencies), time.perf_counter() - started, pct(latencies, .5),
                  pct(latencies, .99), time.process_time() - cpu)


async def ingest_wrk(url: str, secret: str, prefix: str, total: int, customers: int,
                     concurrency: int) -> Ingest:
    """The same requests as `ingest_python`, sent by wrk (benchmarks/ingest.lua)."""
    threads = min(2, concurrency)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t", str(threads), "-c", str(concurrency), "-d", "300s", "--timeout", "10s",
        "-s", str(ROOT / "benchmarks" / "ingest.lua"), f"{url}?webhook_secret={secret}", "--",
        prefix, str(total), str(customers), "0", str(threads),
        *(json.dumps(question) for question in QUESTIONS),
        stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    started, finished = time.perf_counter(), 0
    while finished < threads:
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"wrk exited with {await process.wait()}")
        finished += line.strip() == b"finished"
    seconds = time.perf_counter() - started
    process.send_signal(signal.SIGINT)  # wrk prints its summary and done()'s line
    out, _ = await process.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.decode().strip().splitlines()[-1])
    if result["status_errors"] or result["socket_errors"]:
        raise RuntimeError(f"wrk saw failed requests: {result}")
    return Ingest(result["requests"], seconds, result["p50_us"] / 1e6,
                  result["p99_us"] / 1e6,
                  after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


@contextlib.asynccontextmanager
async def profiled(directory: Path | None, pid: int, name: str) -> AsyncIterator[None]:
    """A raw py-spy profile of the gateway while the block runs (nothing without a directory)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format",
        "raw", "--rate", "250", "--subprocesses", "-o", str(directory / f"{name}.txt"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.sleep(0.5)  # attached
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        await spy.wait()


def message(customer: int, key: str, text: str | None = None) -> dict:
    jid = f"7702{customer:07d}@s.whatsapp.net"
    return {"messageType": "text", "message": text or QUESTIONS[customer % len(QUESTIONS)],
            "metadata": {"sender": "bench", "messageId": key, "remoteJid": jid, "timestamp": 0}}


async def commits(admin: asyncpg.Connection, database: str) -> int:
    return await admin.fetchval(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", database)


async def run_profile(profile: str, sizes: Sizes, server_dsn: str, report: Report,
                      py_spy: Path | None, load: str | None, processes: int,
                      llm_seconds: float, root: Path) -> None:
    print(f"profile {profile}", flush=True)
    # "an existing database": start-up does not migrate
    async with scratch_database(server_dsn, f"truffles_bench_{profile}") as dsn:
        await measure_profile(profile, sizes, server_dsn, dsn, report, py_spy, load, processes,
                              llm_seconds, root)


async def measure_profile(profile: str, sizes: Sizes, server_dsn: str, dsn: str, report: Report,
                          py_spy: Path | None, load: str | None, processes: int,
                          llm_seconds: float, root: Path) -> None:
    database = urlsplit(dsn).path.lstrip("/")
    admin = await asyncpg.connect(server_dsn)  # its reads are not counted in the database's
    conn = await asyncpg.connect(dsn)
    peers = Peers(llm_seconds)
    await peers.start()
    gateway = Gateway(dsn, peers, profile, free_port(), processes, root)
    try:
        async with ClientSession(connector=TCPConnector(limit=0)) as http:
            await gateway.start(http)
            await gateway.ready(http)  # the first start seeds the demo client and its knowledge
            assert gateway.process is not None
            await settled(gateway.process.pid)  # and stores the decision examples' vectors
            await gateway.stop()
            report.add(profile, "start to first 200 on /health", f"{await gateway.start(http):.2f} s")
            await gateway.ready(http)
            secret = await conn.fetchval(
                """UPDATE client_settings SET debounce_seconds = 0, chatflow_token = 't',
                          chatflow_instance_id = 'i'
                    WHERE client_id = (SELECT id FROM clients WHERE slug = 'demo_salon')
                RETURNING webhook_secret""")
            assert gateway.process is not None
            pid = gateway.process.pid
            report.add(profile, "start-up work after /ready (knowledge, example vectors)",
                       f"{await settled(pid):.1f} s")
            cpu = proc_cpu(pid)
            await asyncio.sleep(5)
            report.add(profile, "idle CPU / RSS",
                       f"{(proc_cpu(pid) - cpu) / 5 * 100:.1f} % of a core / "
                       f"{proc_rss_mib(pid):.0f} MiB")
            url = f"{gateway.url}/webhook/demo_salon"
            generator = load or ("wrk" if shutil.which("wrk") else "python")
            for concurrency in (1, 16, 64):
                bench_cpu, gateway_cpu = time.process_time(), proc_cpu(pid)
                async with profiled(py_spy if concurrency == 64 else None, pid,
                                    f"{profile}-ingest-c64"):
                    if generator == "wrk":
                        result = await ingest_wrk(url, secret, f"in{concurrency}", sizes.ingest,
                                                  sizes.customers, concurrency)
                    else:
                        result = await ingest_python(http, url, secret, f"in{concurrency}",
                                                     sizes.ingest, sizes.customers, concurrency)
                bench_cpu, gateway_cpu = time.process_time() - bench_cpu, proc_cpu(pid) - gateway_cpu
                report.add(profile, f"ingest c={concurrency} ({generator})", result.describe())
                report.add(profile, f"ingest c={concurrency}: CPU, % of a core",
                           f"gateway {gateway_cpu / result.seconds * 100:.0f}, load generator "
                           f"{result.generator_cpu / result.seconds * 100:.0f}, benchmark process "
                           f"{bench_cpu / result.seconds * 100:.0f}")
            await drained(conn)

            bursts = [await drain_burst(http, url, secret, peers, admin, conn, database, pid,
                                        sizes, f"burst{number}",
                                        py_spy if number == 0 else None, profile)
                      for number in range(sizes.bursts)]
            first = bursts[0]
            report.add(profile, "drain a burst", f"{sizes.burst} messages from {sizes.customers} "
                       f"customers answered in {first.seconds:.1f} s ({first.turns} turns): "
                       f"{sizes.burst / first.seconds:.0f} messages/s, {first.rate:.0f} turns/s")
            report.add(profile, "of which after the burst's last 200",
                       f"{first.turns_after} turns in {first.seconds_after:.1f} s: "
                       f"{first.rate_after:.0f} turns/s")
            report.add(profile, "CPU per turn (gateway)", f"{first.cpu_per_turn * 1000:.1f} ms")
            report.add(profile, f"CPU during the drain, % of a core ({os.cpu_count()} cores)",
                       ", ".join(f"{name} {seconds / first.seconds * 100:.0f}"
                                 for name, seconds in first.cpu.items()))
            report.add(profile, "PostgreSQL transactions per message",
                       f"{first.transactions / sizes.burst:.1f}")
            if len(bursts) > 1:
                report.add(profile, f"{len(bursts)} bursts in a row, turns/s: median (least–most)",
                           f"{spread([b.rate for b in bursts], '.0f')}; after the burst's last "
                           f"200 {spread([b.rate_after for b in bursts], '.0f')}; CPU a turn "
                           f"{spread([b.cpu_per_turn * 1000 for b in bursts], '.1f')} ms")
            report.add(profile, "RSS after the burst", f"{proc_rss_mib(pid):.0f} MiB")

            async with profiled(py_spy, pid, f"{profile}-paced"):
                paced = await paced_latency(http, url, secret, peers, sizes.paced_seconds)
            report.add(profile, "webhook → send-text at 50/s",
                       f"p50 {pct(paced, .5) * 1000:.0f} ms, p99 {pct(paced, .99) * 1000:.0f} ms")
    except BaseException:
        print(f"the gateway's log: {gateway.log}", file=sys.stderr, flush=True)
        raise
    finally:
        await gateway.stop()
        await peers.close()
        await conn.close()
        await admin.close()
    gateway.discard()


@dataclass
class Burst:
    seconds: float  # from the first webhook to the last reply delivered
    turns: int  # replies delivered
    turns_after: int  # of those, after the burst's last webhook was acknowledged
    seconds_after: float
    cpu: dict[str, float]  # seconds of CPU meanwhile: the gateway's, PostgreSQL's, …
    transactions: int

    @property
    def rate(self) -> float:
        return self.turns / self.seconds

    @property
    def rate_after(self) -> float:
        return self.turns_after / self.seconds_after

    @property
    def cpu_per_turn(self) -> float:
        return self.cpu["gateway"] / max(self.turns, 1)


async def drain_burst(http: ClientSession, url: str, secret: str, peers: Peers,
                      admin: asyncpg.Connection, conn: asyncpg.Connection, database: str,
                      pid: int, sizes: Sizes, key: str, py_spy: Path | None,
                      profile: str) -> Burst:
    """A burst of `sizes.burst` messages from `sizes.customers` customers (two each), posted 64
    at a time, until every one is answered and every reply delivered."""
    before_commits, before_cpu, before = await commits(admin, database), proc_cpu(pid), \
        peers.reply_count
    before_pg, before_bench, before_machine = postgres_cpu(), time.process_time(), machine_busy()
    bodies = [message(10_000 + i % sizes.customers, f"{key}-{i}") for i in range(sizes.burst)]
    started = time.perf_counter()
    async with profiled(py_spy, pid, f"{profile}-drain"):
        await post_all(http, url, secret, bodies, 64)
        posted, replied = time.perf_counter(), peers.reply_count
        polls = await drained(conn)
    finished = time.perf_counter()
    cpu = {"gateway": proc_cpu(pid) - before_cpu, "PostgreSQL": postgres_cpu() - before_pg,
           "benchmark process (fake peers, posting)": time.process_time() - before_bench,
           "whole machine": machine_busy() - before_machine}
    await asyncio.sleep(2)  # a backend reports its counts to the statistics within a second
    return Burst(finished - started, peers.reply_count - before, peers.reply_count - replied,
                 finished - posted, cpu, await commits(admin, database) - before_commits - polls)


def spread(values: list[float], spec: str) -> str:
    """"median (least–most)"."""
    return f"{statistics.median(values):{spec}} ({min(values):{spec}}–{max(values):{spec}})"


async def settled(pid: int, timeout: float = 300) -> float:
    """Seconds until the process has used under 5 % of a core for a whole second: the work a
    start does in the background (opening the knowledge base, embedding the decision layer's
    example messages) is over."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = proc_cpu(pid)
        await asyncio.sleep(1)
        if proc_cpu(pid) - before < 0.05:
            break
    return time.perf_counter() - started


async def drained(conn: asyncpg.Connection, timeout: float = 900) -> int:
    """Until every message is answered and every reply delivered; how many times it looked (each
    look a transaction in the database's statistics)."""
    deadline = time.perf_counter() + timeout
    polls = 0
    while time.perf_counter() < deadline:
        polls += 1
        if await conn.fetchval("""SELECT NOT EXISTS (SELECT 1 FROM turn_queue)
                                     AND NOT EXISTS (SELECT 1 FROM outbox
                                                      WHERE status IN ('pending', 'processing'))"""):
            return polls
        await asyncio.sleep(0.02)
    raise RuntimeError("the gateway did not drain its queues in time")


async def paced_latency(http: ClientSession, url: str, secret: str, peers: Peers,
                        seconds: float) -> list[float]:
    sent: dict[str, float] = {}
    tasks = []
    for index in range(int(seconds * 50)):
        customer = 50_000 + index
        body = message(customer, f"paced-{index}")
        sent[body["metadata"]["remoteJid"]] = time.perf_counter()
        tasks.append(asyncio.create_task(post_all(http, url, secret, [body], 1)))
        await asyncio.sleep(0.02)
    await asyncio.gather(*tasks)
    await asyncio.sleep(2)
    return [peers.replies[jid] - at for jid, at in sent.items() if jid in peers.replies]


def free_port() -> int:
    """A port nothing listens on now: two benchmarks (or a gateway someone runs) side by side
    must not meet on a fixed one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def backlog_claims(sizes: Sizes, server_dsn: str, report: Report) -> None:
    """A claim's cost with 100 events waiting and with the whole backlog, the statistics taken
    while the queue was empty (as it is when idle)."""
    async with scratch_database(server_dsn, "truffles_bench_claims") as dsn:
        pool = await create_pool(dsn)
        try:
            async with pool.acquire() as conn:
                client = await conn.fetchval(
                    "INSERT INTO clients (slug, name) VALUES ('b', 'B') RETURNING id")
                await conn.execute("INSERT INTO client_settings (client_id, webhook_secret) "
                                   "VALUES ($1, repeat('s', 24))", client)
                await conn.execute("ANALYZE")
            for waiting in (100, sizes.backlog):
                await fill_backlog(pool, client, waiting)
                timings = []
                for _ in range(sizes.claims):
                    started = time.perf_counter()
                    await inbox.claim_turns(pool, limit=1, lease=timedelta(minutes=5),
                                            view_history=HISTORY_LINES)  # as the workers claim
                    timings.append(time.perf_counter() - started)
                    await put_back(pool)
                report.add("queue", f"claim with {waiting} events waiting",
                           f"p50 {pct(timings, .5) * 1000:.2f} ms, "
                           f"p99 {pct(timings, .99) * 1000:.2f} ms")
        finally:
            await pool.close()


async def put_back(pool: asyncpg.Pool) -> None:
    """The claimed turn waits again, so that every claim finds the same backlog (without it,
    the 100 events' 20 conversations were all leased after 20 claims, and the other 180 claims
    measured an empty queue)."""
    await pool.execute("""WITH back AS (UPDATE turn_queue SET leased = false, due_at = now()
                                         WHERE leased RETURNING conversation_id)
                          UPDATE inbound_events SET status = 'queued'
                           WHERE conversation_id IN (SELECT conversation_id FROM back)
                             AND status = 'processing'""")


async def fill_backlog(pool: asyncpg.Pool, client: object, events: int) -> None:
    customers = max(events // 5, 1)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("TRUNCATE users, conversations, inbound_events, turn_queue CASCADE")
        await conn.execute("""INSERT INTO users (client_id, remote_jid, phone)
                              SELECT $1, (7701000000 + n)::text || '@s.whatsapp.net', n::text
                                FROM generate_series(1, $2) AS n""", client, customers)
        await conn.execute("INSERT INTO conversations (client_id, user_id) SELECT client_id, id FROM users")
        await conn.execute("""INSERT INTO inbound_events (client_id, channel, provider_message_id,
                                                          conversation_id, payload)
                              SELECT $1, 'whatsapp', n || '-' || c.id, c.id, '{}'
                                FROM generate_series(1, 5) AS n CROSS JOIN conversations c""", client)
        await conn.execute("""INSERT INTO turn_queue (conversation_id, client_id, first_at, last_at, due_at)
                              SELECT id, client_id, now(), now(), now() FROM conversations""")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--profiles", default="instant,bundled")
    parser.add_argument("--load", choices=("wrk", "python"),
                        help="the ingest load generator (default: wrk when on PATH)")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="record raw py-spy profiles of the gateway per phase into DIR")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="serve --processes N (default 1); CPU and RSS are the processes' sum")
    parser.add_argument("--llm-seconds", type=float, default=0.0, metavar="S",
                        help="the fake LLM answers each call after S seconds (default 0)")
    parser.add_argument("--gateway-root", type=Path, default=ROOT, metavar="DIR",
                        help="serve the gateway of this source tree (another revision's; "
                             "benchmarks.ab) rather than this checkout's")
    parser.add_argument("--bursts", type=int, default=1, metavar="N",
                        help="drain N bursts in a row (default 1): the first one's rows, and "
                             "the median, least and most of all N")
    args = parser.parse_args(argv)
    if args.bursts < 1:
        parser.error("--bursts: at least 1")
    sizes = replace(Sizes.smoke() if args.smoke else Sizes(), bursts=args.bursts)
    server_dsn = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or \
        "postgresql://postgres@127.0.0.1:5432/postgres"
    report = Report()
    print(f"machine: {os.cpu_count()} cores; PostgreSQL at {urlsplit(server_dsn).hostname}; "
          f"serve --processes {args.processes}; fake LLM answers after {args.llm_seconds:g} s",
          flush=True)
    speed = interpreter_speed()
    await backlog_claims(sizes, server_dsn, report)
    for profile in args.profiles.split(","):
        await run_profile(profile, sizes, server_dsn, report, args.py_spy, args.load,
                          args.processes, args.llm_seconds, args.gateway_root.resolve())
    report.add("machine", "CPython speed, µs a sum(range(1000))",
               f"{speed:.1f} at the start, {interpreter_speed():.1f} at the end")
    print()
    print(report.table())
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
