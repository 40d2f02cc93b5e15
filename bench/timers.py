"""Escalation timers at scale: lateness, duplicates and misses on one process and on two replicas.

    python -m bench.timers [--timers 10000] [--window 60] [--tick 1] [--replicas 1 2] [--db URL] [--quick]

``--replicas`` worker processes — real subprocesses, each running ``bot.scheduling.timer_loop.TimerLoop``
against the same database — start; once all are up, 10,000 pending SLA timers (one per approval
request) are written, due evenly over the next ``--window`` seconds, and the replicas claim and
fire them. The handler does
what an escalation does to the database: one transaction that enqueues its Slack DM in the outbox
under an idempotency key (the Slack sending itself is not timed here).

Reported per run:
* lateness = claim time − due time (p50 / p99 / max), and handler-finished − due time;
* duplicates = handler runs beyond the first for a timer (target 0), and outbox rows beyond one
  per timer;
* misses = timers that never fired (replicas keep going up to 2 minutes past the window, so a
  late timer counts as late, not missed), or are not ``done`` in the database (target 0).

Lateness depends on the machine: the load average at the end of each run is printed beside it.

Each run gets a fresh Postgres database on 127.0.0.1 (dropped afterwards) unless ``--db`` names one.
``--quick`` shrinks it to 2,000 timers over 10 s for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlmodel import col

from bot.scheduling.timer_loop import TimerLoop
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage, Timer
from storage.outbox import enqueue
from storage.timers import TimerStore

REPO = Path(__file__).resolve().parents[1]
SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
KIND = "sla.escalate"


# -- the worker (one replica) ------------------------------------------------------------------


async def _worker(url: str, worker_id: str, tick: float, out: Path) -> None:
    engine = make_engine(url, pool_size=20)
    store = TimerStore(engine)
    fired: list[tuple[int, float, float, float]] = []  # id, due, claimed, finished (epoch seconds)

    async def escalate(t: Timer) -> None:
        # As the lifecycle will: one transaction that records the escalation's message in the outbox.
        async with store.sessions.begin() as s:
            await enqueue(
                s,
                f"escalate:{t.target_id}:dm",
                "chat.postMessage",
                {"channel": "U0BACKUP01", "text": f"request {t.target_id} needs a decision"},
            )
        assert t.id is not None and t.claimed_at is not None
        fired.append((t.id, t.due_at.timestamp(), t.claimed_at.timestamp(), time.time()))

    loop = TimerLoop(store, worker_id=worker_id, tick_seconds=tick, batch=500, concurrency=16)
    loop.register(KIND, escalate)
    await loop.start()
    print("ready", flush=True)
    # The driver seeds the timers once every replica is up, then says when to stop.
    deadline = float(await asyncio.to_thread(sys.stdin.readline))
    await asyncio.sleep(max(deadline - time.time(), 0))
    # Late is not lost: keep firing until every timer is done, up to a hard cap, so that a slow run
    # shows up as lateness and only a timer that never fires counts as a miss.
    while time.time() < deadline + 120:
        counts = await store.counts()
        if not counts.get("pending") and not counts.get("claimed"):
            break
        await asyncio.sleep(0.5)
    await loop.stop()
    await engine.dispose()
    out.write_text(json.dumps({"worker": worker_id, "fired": fired}))


# -- the driver --------------------------------------------------------------------------------


async def _fresh_database() -> str:
    import asyncpg

    name = f"rgbench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(SERVER.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{SERVER}/{name}"


async def _drop_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(SERVER.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _prepare(url: str) -> None:
    """Migrate and empty the tables (a reused scratch database starts empty too)."""
    engine = make_engine(url)
    await upgrade(engine)
    async with TimerStore(engine).sessions.begin() as s:
        await s.execute(delete(Timer))
        await s.execute(delete(OutboxMessage))
    await engine.dispose()


async def _seed(url: str, n: int, first_due: datetime, window: float) -> dict[int, float]:
    engine = make_engine(url)
    store = TimerStore(engine)
    now = datetime.now(UTC)
    rows = [
        {
            "kind": KIND,
            "target_id": i,
            "key": None,
            "due_at": first_due + timedelta(seconds=window * i / n),
            "state": "pending",
            "attempts": 0,
            "payload": {"request": i},
            "created_at": now,
        }
        for i in range(n)
    ]
    async with store.sessions.begin() as s:
        for start in range(0, n, 2000):
            await s.execute(insert(Timer), rows[start : start + 2000])
    async with store.sessions() as s:
        q = select(col(Timer.id), col(Timer.due_at))
        due = {int(i): d.timestamp() for i, d in (await s.execute(q)).all() if i is not None}
    await engine.dispose()
    return due


async def _db_outcome(url: str) -> tuple[dict[str, int], int]:
    engine = make_engine(url)
    store = TimerStore(engine)
    counts = await store.counts()
    async with store.sessions() as s:
        outbox_rows = int((await s.execute(select(func.count()).select_from(OutboxMessage))).scalar() or 0)
    await engine.dispose()
    return counts, outbox_rows


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(n: int, window: float, replicas: int, tick: float, db: str | None) -> dict[str, Any]:
    url = db or await _fresh_database()
    try:
        await _prepare(url)
        with tempfile.TemporaryDirectory() as tmp:
            outs = [Path(tmp) / f"w{i}.json" for i in range(replicas)]
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "bench.timers", "--worker", url, f"replica-{i}", str(tick), str(outs[i])],
                    cwd=REPO,
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for i in range(replicas)
            ]
            try:
                for p in procs:
                    assert p.stdout is not None
                    if (await asyncio.to_thread(p.stdout.readline)).strip() != "ready":
                        raise SystemExit("a replica did not start")
                # Seeding takes well under a second; the first timer is due after that.
                first_due = datetime.now(UTC) + timedelta(seconds=2)
                due = await _seed(url, n, first_due, window)
                deadline = first_due.timestamp() + window + max(3 * tick, 5.0)
                for p in procs:
                    assert p.stdin is not None
                    p.stdin.write(f"{deadline}\n")
                    p.stdin.flush()
                for p in procs:
                    await asyncio.to_thread(p.wait)
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
            if any(p.returncode for p in procs):
                raise SystemExit(f"a replica failed: exit codes {[p.returncode for p in procs]}")
            results = [json.loads(o.read_text()) for o in outs]
        counts, outbox_rows = await _db_outcome(url)
    finally:
        if db is None:
            await _drop_database(url)

    runs: Counter[int] = Counter()
    claim_late: list[float] = []
    done_late: list[float] = []
    per_worker: dict[str, int] = {}
    for r in results:
        per_worker[r["worker"]] = len(r["fired"])
        for tid, due_at, claimed, finished in r["fired"]:
            runs[tid] += 1
            claim_late.append(claimed - due_at)
            done_late.append(finished - due_at)
    duplicates = sum(c - 1 for c in runs.values() if c > 1)
    misses = len(set(due) - set(runs))
    return {
        "replicas": replicas,
        "timers": n,
        "window_s": window,
        "tick_s": tick,
        "claim_lateness_s": {
            "p50": _pct(claim_late, 0.5),
            "p99": _pct(claim_late, 0.99),
            "max": max(claim_late, default=float("nan")),
            "mean": statistics.fmean(claim_late) if claim_late else float("nan"),
        },
        "done_lateness_s": {
            "p50": _pct(done_late, 0.5),
            "p99": _pct(done_late, 0.99),
            "max": max(done_late, default=float("nan")),
        },
        "late_over_2s": sum(1 for x in done_late if x > 2.0),
        "load_avg_1m": os.getloadavg()[0],
        "duplicates": duplicates,
        "misses": misses,
        "not_done_in_db": n - counts.get("done", 0),
        "outbox_rows_beyond_one_per_timer": outbox_rows - len(runs),
        "per_replica": per_worker,
    }


def _print(r: dict[str, Any]) -> None:
    c, d = r["claim_lateness_s"], r["done_lateness_s"]
    print(f"{r['replicas']} replica(s), {r['timers']:,} timers over {r['window_s']:g}s, tick {r['tick_s']:g}s")
    print(f"  lateness (claim − due):    p50 {c['p50']:.3f}s  p99 {c['p99']:.3f}s  max {c['max']:.3f}s")
    print(f"  lateness (handled − due):  p50 {d['p50']:.3f}s  p99 {d['p99']:.3f}s  max {d['max']:.3f}s")
    print(f"  handled more than 2 s late: {r['late_over_2s']}  (machine load average {r['load_avg_1m']:.1f})")
    print(
        f"  duplicates {r['duplicates']}  misses {r['misses']}  not done in DB {r['not_done_in_db']}  "
        f"extra outbox rows {r['outbox_rows_beyond_one_per_timer']}"
    )
    print(f"  fired per replica: {r['per_replica']}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        url, worker_id, tick, out = argv[1:5]
        asyncio.run(_worker(url, worker_id, float(tick), Path(out)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timers", type=int, default=10_000)
    ap.add_argument("--window", type=float, default=60.0, help="seconds over which the timers fall due")
    ap.add_argument("--tick", type=float, default=1.0, help="the loop's tick_seconds")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--db",
        help="a scratch database URL to use instead of a fresh Postgres database "
        "(its timers and outbox tables are emptied)",
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--quick", action="store_true", help="2,000 timers over 10 s")
    args = ap.parse_args(argv)
    if args.quick:
        args.timers, args.window = 2_000, 10.0
    results = []
    for replicas in args.replicas:
        r = asyncio.run(run(args.timers, args.window, replicas, args.tick, args.db))
        _print(r)
        results.append(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
