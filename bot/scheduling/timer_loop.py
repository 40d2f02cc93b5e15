"""The scheduler loop: wakes every few seconds, claims due timer rows, runs their handlers.

APScheduler only provides the wake-up. Which timers exist, which are due and who fires them lives in
the ``timers`` table (``storage.timers``), because APScheduler's own job stores cannot be shared
between processes: every replica runs this loop and the atomic claim hands each due timer to one.

Delivery is at-least-once: a handler that fails is retried with backoff, and a worker that dies
holding a claim has its timers handed out again after ``claim_timeout``. Handlers must therefore
be idempotent — re-read the target and change it with a compare-and-set, enqueue Slack messages
with stable outbox keys, schedule follow-up timers with a ``key``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from storage.models import Timer
from storage.timers import TimerStore

__all__ = ["Clock", "TimerHandler", "TimerLoop", "default_worker_id"]

log = logging.getLogger(__name__)

TimerHandler = Callable[[Timer], Awaitable[None]]
Clock = Callable[[], datetime]

_JOB_ID = "releasegate-timer-tick"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    """Host, pid and a random suffix: readable in ``claimed_by`` and unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class TimerLoop:
    def __init__(
        self,
        store: TimerStore,
        *,
        clock: Clock = _utcnow,
        worker_id: str | None = None,
        tick_seconds: float = 2.0,
        batch: int = 200,
        concurrency: int = 16,
        claim_timeout: timedelta = timedelta(minutes=5),
        max_attempts: int = 10,
        base_backoff: timedelta = timedelta(seconds=5),
        max_backoff: timedelta = timedelta(minutes=10),
    ) -> None:
        self.store = store
        self.clock = clock
        self.worker_id = worker_id or default_worker_id()
        self.tick_seconds = tick_seconds
        self.batch = batch
        self.claim_timeout = claim_timeout
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        # A handler must finish well inside the claim timeout, or another replica would
        # re-claim the timer while this one is still running it.
        self.handler_timeout = claim_timeout.total_seconds() / 2
        self._handlers: dict[str, TimerHandler] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._tick_lock = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None
        self._stopping = False

    def register(self, kind: str, handler: TimerHandler) -> None:
        """Route timers of ``kind`` to ``handler`` (an idempotent coroutine taking the Timer row)."""
        if kind in self._handlers:
            raise ValueError(f"a handler for timer kind {kind!r} is already registered")
        self._handlers[kind] = handler

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    async def start(self) -> None:
        """Start ticking. The first tick runs at once, so timers that fell due while down fire now."""
        if self._scheduler is not None:
            return
        self._stopping = False
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self._scheduled_tick,
            "interval",
            seconds=self.tick_seconds,
            id=_JOB_ID,
            next_run_time=datetime.now(UTC),
            # One tick at a time per process; a tick that overruns just delays the next one.
            # A second instance may start while a long tick runs; it returns at once (see below),
            # which keeps APScheduler from logging a "skipped" warning every interval under load.
            max_instances=2,
            coalesce=True,
            misfire_grace_time=None,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "timer loop %s started (tick %.1fs, kinds: %s)",
            self.worker_id,
            self.tick_seconds,
            ", ".join(sorted(self._handlers)) or "none",
        )

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; let an in-flight tick finish its handlers (up to ``timeout``)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        self._stopping = True
        scheduler.remove_all_jobs()
        try:
            async with asyncio.timeout(timeout):
                async with self._tick_lock:
                    pass
        except TimeoutError:
            log.warning(
                "timer loop %s: a tick still running after %.0fs; its claims will be released "
                "as stale by another worker",
                self.worker_id,
                timeout,
            )
        scheduler.shutdown(wait=False)

    def kick(self) -> None:
        """Tick as soon as possible (e.g. right after scheduling a timer that is already due)."""
        if self._scheduler is not None and not self._stopping:
            job = self._scheduler.get_job(_JOB_ID)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    async def _scheduled_tick(self) -> None:
        if self._tick_lock.locked():
            return  # the running tick keeps claiming until nothing is due, so this one has no work
        try:
            await self.tick()
        except Exception:
            # The database may be briefly unreachable; the next tick tries again.
            log.exception("timer loop %s: tick failed", self.worker_id)

    async def tick(self) -> int:
        """Claim and run due timers until none are left (releasing stale claims first). Returns how many ran."""
        async with self._tick_lock:
            ran = 0
            last_release: float | None = None
            while not self._stopping:
                # Under sustained load one tick may run for a long time; keep releasing stale claims.
                if last_release is None or time.monotonic() - last_release > self.claim_timeout.total_seconds() / 4:
                    released = await self.store.release_stale_claims(self.clock() - self.claim_timeout)
                    last_release = time.monotonic()
                    if released:
                        log.warning(
                            "timer loop %s: re-queued %d timers whose worker stopped answering",
                            self.worker_id,
                            released,
                        )
                claimed = await self.store.claim_due(self.clock(), self.worker_id, self.batch)
                if not claimed:
                    break
                ok = await asyncio.gather(*(self._run(t) for t in claimed))
                succeeded = [t.id for t, good in zip(claimed, ok, strict=True) if good and t.id is not None]
                finished = await self.store.complete_many(succeeded, self.clock(), worker_id=self.worker_id)
                if len(finished) < len(succeeded):
                    # Cancelled while running (a decision landed) or re-claimed after a stall: either
                    # way the handler's own state check is what kept it from acting twice.
                    log.info(
                        "timer loop %s: %d timers were cancelled or re-claimed while they ran",
                        self.worker_id,
                        len(succeeded) - len(finished),
                    )
                ran += len(claimed)
                # No break on a short batch: timers that fell due while this batch ran are claimed
                # now rather than a tick later, which is what keeps lateness low under load.
            return ran

    async def _run(self, timer: Timer) -> bool:
        """Run one handler; True when it succeeded (completion is recorded for the batch at once)."""
        async with self._sem:
            handler = self._handlers.get(timer.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler registered for timer kind {timer.kind!r}")
                async with asyncio.timeout(self.handler_timeout):
                    await handler(timer)
            except Exception as exc:
                await self._failed(timer, exc)
                return False
            return True

    async def _failed(self, timer: Timer, exc: Exception) -> None:
        assert timer.id is not None
        give_up = timer.attempts >= self.max_attempts
        delay = self.backoff(timer.attempts)
        error = f"{type(exc).__name__}: {exc}"
        if give_up:
            log.error(
                "timer %s (%s → target %s) failed %d times, giving up: %s",
                timer.id,
                timer.kind,
                timer.target_id,
                timer.attempts,
                error,
                exc_info=exc,
            )
        else:
            log.warning(
                "timer %s (%s → target %s) failed (attempt %d/%d), retrying in %.0fs: %s",
                timer.id,
                timer.kind,
                timer.target_id,
                timer.attempts,
                self.max_attempts,
                delay.total_seconds(),
                error,
                exc_info=exc,
            )
        await self.store.retry_later(
            timer.id, error, self.clock() + delay, worker_id=self.worker_id, give_up=give_up, now=self.clock()
        )

    def backoff(self, attempts: int) -> timedelta:
        """Exponential with ±20% jitter, so replicas retrying the same outage do not move in step."""
        base = min(self.base_backoff * (2 ** min(max(attempts - 1, 0), 20)), self.max_backoff)
        return timedelta(seconds=base.total_seconds() * random.uniform(0.8, 1.2))
