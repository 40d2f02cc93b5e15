"""Durable timers on SQLite and the real Postgres: claimed once, survive restarts, cancel, retry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.scheduling.timer_loop import TimerLoop
from storage.db import make_engine
from storage.models import Timer
from storage.repo import Store
from storage.timers import TimerStore, cancel_for, schedule

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def timers(store: Store) -> TimerStore:
    return TimerStore(store.engine)


async def _schedule_many(timers: TimerStore, n: int, due: datetime = NOW) -> set[int]:
    ids = set()
    async with timers.sessions.begin() as s:
        for i in range(n):
            tid = await schedule(s, "sla.escalate", i, due - timedelta(milliseconds=i), {"i": i}, now=NOW)
            assert tid is not None
            ids.add(tid)
    return ids


async def test_concurrent_claimers_claim_each_timer_once(timers: TimerStore, db_url: str) -> None:
    ids = await _schedule_many(timers, 400)
    other_engine = make_engine(db_url)
    other = TimerStore(other_engine)
    claims: list[int] = []

    async def claimer(ts: TimerStore, worker: str) -> None:
        while batch := await ts.claim_due(NOW, worker, limit=17):
            claims.extend(t.id for t in batch if t.id is not None)
            assert all(t.state == "claimed" and t.claimed_by == worker and t.attempts == 1 for t in batch)

    try:
        await asyncio.gather(*(claimer(ts, f"w{i}") for i, ts in enumerate([timers, other] * 3)))
    finally:
        await other_engine.dispose()
    assert Counter(claims).most_common(1)[0][1] == 1
    assert set(claims) == ids
    assert await timers.counts() == {"claimed": 400}


_CLAIMER = """
import asyncio, json, sys
from datetime import datetime
sys.path.insert(0, sys.argv[1])
from storage.db import make_engine
from storage.timers import TimerStore

async def main() -> None:
    engine = make_engine(sys.argv[2])
    store = TimerStore(engine)
    now = datetime.fromisoformat(sys.argv[3])
    got = []
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    while batch := await store.claim_due(now, sys.argv[4], limit=13):
        got.extend(t.id for t in batch)
        # A real loop does work between claims; without a pause one process on SQLite can take the
        # write lock back every time before the other's busy handler wakes, and claim all 600 alone.
        await asyncio.sleep(0.01)
    await engine.dispose()
    print(json.dumps(got), flush=True)

asyncio.run(main())
"""


async def test_two_processes_claim_each_timer_once(timers: TimerStore, db_url: str) -> None:
    ids = await _schedule_many(timers, 600)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(REPO), db_url, NOW.isoformat(), f"proc{i}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [await asyncio.to_thread(p.communicate, timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    got = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    claims = got[0] + got[1]
    assert len(claims) == len(set(claims)) == len(ids)
    assert set(claims) == ids
    # Both really took part (with 600 rows and batches of 13 neither can win them all unopposed).
    assert got[0] and got[1]


async def test_stale_claims_are_claimable_again(timers: TimerStore) -> None:
    [tid] = await _schedule_many(timers, 1)
    [first] = await timers.claim_due(NOW, "dead-worker")
    assert await timers.claim_due(NOW + timedelta(minutes=1), "w2") == []
    assert await timers.release_stale_claims(NOW - timedelta(seconds=1)) == 0  # not stale yet
    assert await timers.release_stale_claims(NOW + timedelta(seconds=1)) == 1
    [again] = await timers.claim_due(NOW + timedelta(minutes=1), "w2")
    assert again.id == first.id == tid and again.attempts == 2 and again.claimed_by == "w2"
    # The presumed-dead worker wakes up: its late completion must not count.
    assert not await timers.complete(tid, NOW, worker_id="dead-worker")
    assert await timers.complete(tid, NOW, worker_id="w2")
    done = await timers.get(tid)
    assert done is not None and done.state == "done"


async def test_timers_due_while_down_fire_on_start(timers: TimerStore) -> None:
    # Scheduled by a process that then died; they came due an hour ago.
    ids = await _schedule_many(timers, 5, due=datetime.now(UTC) - timedelta(hours=1))
    await timers.schedule("sla.escalate", 99, datetime.now(UTC) + timedelta(hours=1))
    fired: list[int] = []
    done = asyncio.Event()

    async def handler(t: Timer) -> None:
        fired.append(t.id or 0)
        if len(fired) == len(ids):
            done.set()

    loop = TimerLoop(timers, tick_seconds=3600)  # only the start-up tick can fire them
    loop.register("sla.escalate", handler)
    await loop.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await loop.stop()
    assert sorted(fired) == sorted(ids)
    assert (await timers.counts()) == {"done": 5, "pending": 1}


async def test_cancel_in_the_deciding_transaction(timers: TimerStore, store: Store) -> None:
    async with store.sessions.begin() as s:
        for kind in ("sla.escalate", "sla.pause", "traffic.step"):
            await schedule(s, kind, 7, NOW, now=NOW)
        await schedule(s, "sla.escalate", 8, NOW, now=NOW)
    # A decision cancels the request's SLA timers; another target and another kind are untouched.
    async with store.sessions.begin() as s:
        assert await cancel_for(s, 7, ["sla.escalate", "sla.pause"], now=NOW) == 2
    claimed = await timers.claim_due(NOW, "w")
    assert sorted((t.kind, t.target_id) for t in claimed) == [("sla.escalate", 8), ("traffic.step", 7)]
    # Cancelling a claimed timer makes its completion a no-op (the handler raced the decision).
    [escalate8] = [t for t in claimed if t.target_id == 8]
    assert await timers.cancel_for(8, ["sla.escalate"]) == 1
    assert not await timers.complete(escalate8.id or 0, NOW)
    assert {t.state for t in await timers.for_target(7, ["sla.escalate", "sla.pause"])} == {"cancelled"}


async def test_schedule_rolls_back_with_its_transaction_and_dedupes_by_key(timers: TimerStore) -> None:
    with pytest.raises(RuntimeError):
        async with timers.sessions.begin() as s:
            await schedule(s, "sla.escalate", 1, NOW, now=NOW)
            raise RuntimeError("the state change failed")
    assert await timers.counts() == {}
    assert await timers.schedule("sla.pause", 1, NOW, key="sla.pause:1", now=NOW) is not None
    assert await timers.schedule("sla.pause", 1, NOW, key="sla.pause:1", now=NOW) is None
    assert await timers.counts() == {"pending": 1}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_failures_retry_with_backoff_then_give_up(timers: TimerStore) -> None:
    await timers.schedule("flaky", 1, NOW, now=NOW)
    await timers.schedule("broken", 2, NOW, now=NOW)
    await timers.schedule("nobody-handles-this", 3, NOW, now=NOW)
    clock = FakeClock(NOW)
    calls: Counter[str] = Counter()

    async def flaky(t: Timer) -> None:
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise ConnectionError("slack is down")

    async def broken(t: Timer) -> None:
        calls["broken"] += 1
        raise ValueError("bad payload")

    loop = TimerLoop(timers, clock=clock, max_attempts=3, base_backoff=timedelta(seconds=10))
    loop.register("flaky", flaky)
    loop.register("broken", broken)
    assert await loop.tick() == 3
    flaky_row = (await timers.for_target(1))[0]
    assert flaky_row.state == "pending" and flaky_row.last_error == "ConnectionError: slack is down"
    assert flaky_row.due_at >= NOW + timedelta(seconds=8)  # backoff, not an immediate hot loop
    assert await loop.tick() == 0  # nothing due before the backoff
    for _ in range(4):
        clock.now += timedelta(minutes=5)
        await loop.tick()
    assert calls == {"flaky": 2, "broken": 3}
    states = {
        t.kind: (t.state, t.attempts)
        for t in [*(await timers.for_target(1)), *(await timers.for_target(2)), *(await timers.for_target(3))]
    }
    assert states == {"flaky": ("done", 2), "broken": ("failed", 3), "nobody-handles-this": ("failed", 3)}


async def test_two_loops_fire_each_timer_once(timers: TimerStore, db_url: str) -> None:
    ids = await _schedule_many(timers, 300, due=datetime.now(UTC))
    other_engine = make_engine(db_url)
    fired: Counter[int] = Counter()

    async def handler(t: Timer) -> None:
        await asyncio.sleep(0)
        fired[t.id or 0] += 1

    loops = [TimerLoop(TimerStore(e), batch=20) for e in (timers.engine, other_engine)]
    for loop in loops:
        loop.register("sla.escalate", handler)
    try:
        await asyncio.gather(*(loop.tick() for loop in loops))
    finally:
        await other_engine.dispose()
    assert set(fired) == ids and set(fired.values()) == {1}
    assert await timers.counts() == {"done": 300}
