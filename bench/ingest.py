"""Sustained metric ingestion over HTTP against the real app, beside the raw ``executemany`` rate.

    python -m bench.ingest [--samples 1000000] [--batch 5000] [--concurrency 4]
                           [--postgres-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] [--no-postgres]

For SQLite and (when reachable) PostgreSQL, in one run against one fresh database each:

1. **raw**: the same rows as plain ``INSERT`` through the driver's ``executemany``, batch by batch,
   one transaction per batch, into the real ``metric_samples`` table with its indexes. That is
   the ceiling: no HTTP, no JSON, no validation, no upsert; on Postgres ``--concurrency`` writers
   like step 2, on SQLite one (it has one writer; more only spin in its busy handler).
   The table is then emptied (SQLite ``DELETE`` + ``VACUUM``, Postgres ``TRUNCATE``) so the next
   step starts from the same state.
2. **http**: the real bot (``build_bot`` + ``build_web_app`` as ``tests/e2e/harness.py`` boots it,
   Slack replaced by the stand-in) serving in a child process, so client and server do not share
   a GIL; the parent POSTs pre-encoded JSON batches to ``/api/v1/metrics`` with bearer auth,
   ``--concurrency`` requests in flight. Every batch must come back 202 with nothing rejected.
3. **evaluate**: load the window from the database (``MetricsStore.cohorts``) and run
   ``evaluate_canary`` (all four Canary gates) over it, timed together.

The samples are what a busy canary sends: per page view an LCP and an INP (web-vitals ids unique
per view), plus one counter item for about every 10 views (requests with errors, cache hits and
misses), split about evenly between the canary and baseline arms over three regions.
Targets: http ≥ 50% of raw; evaluate < 2 s at 1,000,000 samples.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

RELEASE = "bench-ingest"
API_TOKEN = "bench-api-token"
BOT_TOKEN = "xoxb-bench-ingest"
SECRET = "bench-signing-secret"
REGIONS = ("eu", "us", "apac")


def make_items(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """``n`` items: ~45% LCP, ~45% INP, ~10% counters, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    views = n // 2 + 1  # ~2.1 items per view; the loop stops at n
    lcp = rng.lognormal(np.log(1800), 0.5, views)
    inp = rng.lognormal(np.log(120), 0.6, views)
    arm = rng.random(views) < 0.5
    region = rng.integers(0, len(REGIONS), views)
    items: list[dict[str, Any]] = []
    counter_names = ("requests", "errors", "cache_hit", "cache_miss")
    for v in range(views):
        cohort = "canary" if arm[v] else "baseline"
        base = {
            "release": RELEASE,
            "cohort": cohort,
            "region": REGIONS[region[v]],
            "page": "/summer",
            "navigationType": "navigate",
        }
        items.append(
            {
                "name": "LCP",
                "value": round(float(lcp[v]), 1),
                "id": f"v4-{v}-lcp",
                "rating": "good",
                "delta": round(float(lcp[v]), 1),
                **base,
            }
        )
        items.append(
            {
                "name": "INP",
                "value": round(float(inp[v]), 1),
                "id": f"v4-{v}-inp",
                "rating": "good",
                "delta": round(float(inp[v]), 1),
                **base,
            }
        )
        if v % 10 == 0:
            name = counter_names[(v // 10) % 4]
            count = {"requests": 400, "errors": 1, "cache_hit": 380, "cache_miss": 20}[name]
            items.append(
                {
                    "name": name,
                    "value": count,
                    "release": RELEASE,
                    "cohort": cohort,
                    "region": REGIONS[region[v]],
                    "page": "/summer",
                }
            )
        if len(items) >= n:
            break
    return items[:n]


# -- the server, in a child process ------------------------------------------------------------


def _serve(db_url: str, releases_dir: str, ready: Any) -> None:
    asyncio.run(_serve_async(db_url, releases_dir, ready))


async def _serve_async(db_url: str, releases_dir: str, ready: Any) -> None:
    from aiohttp import web

    from bot.app import build_bot, build_web_app
    from bot.demo.standin import SlackStandIn
    from bot.settings import load_settings
    from gates.policy import default_policy

    standin = SlackStandIn(bot_tokens=[BOT_TOKEN])
    await standin.start()
    settings = load_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=standin.base_url,
        RELEASEGATE_DATABASE_URL=db_url,
        RELEASEGATE_RELEASES_DIR=releases_dir,
        RELEASEGATE_API_TOKEN=API_TOKEN,
    )
    bot = await build_bot(settings, default_policy())
    runner = web.AppRunner(build_web_app(bot), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ready.put(runner.addresses[0][1])
    await asyncio.Event().wait()  # until the parent terminates us


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Figures:
    backend: str
    samples: int
    raw_s: float
    http_s: float
    load_s: float
    eval_s: float

    def line(self) -> str:
        raw, http = self.samples / self.raw_s, self.samples / self.http_s
        return (
            f"{self.backend:<8} {self.samples:>9,}  raw executemany {raw:>9,.0f}/s  "
            f"HTTP {http:>9,.0f}/s  ({100 * http / raw:5.1f}% of raw)  "
            f"load+evaluate_canary {self.load_s + self.eval_s:5.2f} s "
            f"(load {self.load_s:.2f} s, gates {self.eval_s:.2f} s)"
        )


async def _raw_insert(db_url: str, rows_batches: list[list[tuple[Any, ...]]], concurrency: int) -> float:
    from storage.db import make_engine
    from storage.metrics import INSERT_COLUMNS

    engine = make_engine(db_url, pool_size=concurrency)
    marks = ", ".join("?" if engine.dialect.name == "sqlite" else f"${i + 1}" for i in range(len(INSERT_COLUMNS)))
    sql = f"INSERT INTO metric_samples ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})"
    queue = list(reversed(rows_batches))

    async def worker() -> None:
        # Same parallelism as the HTTP clients, so Postgres gets the same concurrent writers.
        while queue:
            rows = queue.pop()
            async with engine.begin() as conn:
                await conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]

    # SQLite has one writer: parallel raw writers would only spin in its busy handler.
    writers = 1 if engine.dialect.name == "sqlite" else concurrency
    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(writers)))
        elapsed = time.perf_counter() - start
        async with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                await conn.exec_driver_sql("DELETE FROM metric_samples")
            else:
                await conn.exec_driver_sql("TRUNCATE metric_samples")
        if engine.dialect.name == "sqlite":
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                await raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
        return elapsed
    finally:
        await engine.dispose()


async def _prepare(db_url: str) -> None:
    from storage.db import make_engine, upgrade
    from storage.repo import Store

    engine = make_engine(db_url)
    try:
        await upgrade(engine)
        await Store(engine).create_release(
            name=RELEASE,
            title="ingestion benchmark",
            channel_id="C0BENCH",
            requested_by="U0BENCH",
            bundle_dir=".",
            bundle={"images": []},
            policy={},
            phase="canary",
            state="observing",
            now=datetime.now(UTC) - timedelta(hours=1),
        )
    finally:
        await engine.dispose()


async def _post_all(port: int, bodies: list[bytes], concurrency: int) -> float:
    import aiohttp

    url = f"http://127.0.0.1:{port}/api/v1/metrics"
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    queue = list(reversed(bodies))

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            async with session.post(url, data=body, headers=headers) as r:
                answer = await r.json()
                if r.status != 202 or answer["rejected"]:
                    raise RuntimeError(f"batch refused: {r.status} {str(answer)[:300]}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - start


async def _evaluate(db_url: str, expected: int) -> tuple[float, float, list[str]]:
    from gates.canary import evaluate_canary
    from gates.metrics import Window
    from gates.policy import default_policy
    from storage.db import make_engine
    from storage.metrics import MetricsStore

    engine = make_engine(db_url)
    try:
        store = MetricsStore(engine)
        now = datetime.now(UTC)
        window = Window(now - timedelta(hours=1), now + timedelta(minutes=1))
        policy = default_policy().phases.canary
        start = time.perf_counter()
        pair = await store.cohorts(RELEASE, window.start, window.end, metrics=("LCP", "INP"))
        loaded = time.perf_counter()
        results = evaluate_canary(pair, policy, window, now)
        done = time.perf_counter()
        counts = await store.counts(RELEASE)
        stored = sum(sum(v.values()) for v in counts.values())
        if stored != expected:
            raise RuntimeError(f"expected {expected} rows stored, found {stored}")
        return loaded - start, done - loaded, [f"{r.gate}: {r.status.value}" for r in results]
    finally:
        await engine.dispose()


def _rows_for(db_url: str, items: list[dict[str, Any]], batch: int) -> list[list[tuple[Any, ...]]]:
    """The exact tuples MetricsStore writes for these items (so raw and HTTP store the same)."""
    from gates.metrics import validate_batch
    from storage.db import make_engine
    from storage.metrics import MetricsStore

    store = MetricsStore(make_engine(db_url))
    received = store._ts(datetime.now(UTC))
    out = []
    for i in range(0, len(items), batch):
        result = validate_batch(items[i : i + batch], None)
        out.append(store._rows(result.accepted, received, "rum"))
    return out


async def _postgres_database(admin_url: str) -> tuple[str, str] | None:
    import asyncpg  # type: ignore[import-untyped]

    driver, _, rest = admin_url.partition("://")
    server = rest.rsplit("/", 1)[0]
    host_port = server.rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    try:
        with socket.create_connection((host, int(port or 5432)), timeout=1):
            pass
    except OSError:
        return None
    name = f"rg_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(f"postgresql://{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{driver}://{server}/{name}", server


async def _drop_postgres(server: str, url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"postgresql://{server}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


def _wait_for_port(server: Any, ready: Any) -> int:
    import queue

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return int(ready.get(timeout=0.5))
        except queue.Empty:
            if not server.is_alive():
                raise RuntimeError("the app failed to start (its traceback is above)") from None
    raise RuntimeError("the app did not start within 60 s")


def run_backend(
    backend: str,
    db_url: str,
    items: list[dict[str, Any]],
    bodies: list[bytes],
    batch: int,
    concurrency: int,
    workdir: Path,
) -> Figures:
    asyncio.run(_prepare(db_url))
    raw_s = asyncio.run(_raw_insert(db_url, _rows_for(db_url, items, batch), concurrency))

    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    releases = workdir / "releases"
    releases.mkdir(exist_ok=True)
    server = ctx.Process(target=_serve, args=(db_url, str(releases), ready), daemon=True)
    server.start()
    try:
        port = _wait_for_port(server, ready)
        http_s = asyncio.run(_post_all(port, bodies, concurrency))
    finally:
        server.terminate()
        server.join(10)
    load_s, eval_s, verdicts = asyncio.run(_evaluate(db_url, len(items)))
    print(f"  {backend}: {', '.join(verdicts)}", file=sys.stderr)
    return Figures(backend, len(items), raw_s, http_s, load_s, eval_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    ap.add_argument("--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args(argv)

    items = make_items(args.samples)
    bodies = [json.dumps(items[i : i + args.batch]).encode() for i in range(0, len(items), args.batch)]
    print(
        f"{len(items):,} samples in {len(bodies)} batches of {args.batch:,}, {args.concurrency} in flight",
        file=sys.stderr,
    )
    figures: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="rg-bench-ingest-") as tmp:
        work = Path(tmp)
        figures.append(
            run_backend(
                "sqlite", f"sqlite+aiosqlite:///{work / 'bench.db'}", items, bodies, args.batch, args.concurrency, work
            )
        )
        if not args.no_postgres:
            made = asyncio.run(_postgres_database(args.postgres_url))
            if made is None:
                print("postgres: not reachable, skipped", file=sys.stderr)
            else:
                url, server = made
                try:
                    figures.append(run_backend("postgres", url, items, bodies, args.batch, args.concurrency, work))
                finally:
                    asyncio.run(_drop_postgres(server, url))
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
