"""Game-day drills: a scripted release with a Canary that is made to fail, measured end to end.

``/release drill`` (or ``releasegate drill``, which asks the running bot through a durable timer)
starts a release named ``drill-YYYYMMDD-HHMMSS`` in the channel, exactly like a real one: the
Preview owners get the usual approval request (and the usual escalation if they do not answer).
Once Canary traffic is on the candidate, the drill feeds the Canary gates synthetic real-user
traffic whose LCP is 40% worse (``bot.drill.traffic_sim.rum_batch(lcp_shift=1.4)``), judged by the
real gate code, and waits for the automatic rollback to reach the traffic engine.

Three things are measured, because they are what a real incident depends on:

* approver response: Preview request posted → decision recorded (and whether it escalated);
* Slack delivery: how long each Slack Web API call for the drill took, and how many failed;
* rollback: failure visible → failing verdict, and failure visible → the engine confirmed 0%.

Results go into the ``drills`` table; ``/release drill history`` shows them side by side.

While a drill runs, its own release (and only it) gets timing shims around the Slack client and
the traffic controller and a synthetic Canary evaluator (``Lifecycle.release_hooks``, see
``bot/drill/shims.py``); every other release keeps the shared ones, which are never swapped.
The report and history live in ``bot/drill/report.py``, the CLI in ``bot/drill/cli.py``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.drill.report import history_blocks, report_blocks
from bot.drill.samples import summer_hero
from bot.drill.shims import LCP_SHIFT, SlackCall, SyntheticCanary, TimedSlack, TimedTraffic, _no_gates
from bot.release.flow import Lifecycle, ReleaseHooks
from bot.slack.authz import is_owner
from bot.slack.blocks.text import section
from gates.durations import format_duration
from gates.phases import DecisionKind, Phase, State
from gates.result import Status
from storage.drills import DrillRun, DrillStore
from storage.models import Timer
from storage.repo import AuditNote, StateChange
from storage.types import OutboxState

log = logging.getLogger(__name__)

T = TypeVar("T")
DRILL_TIMER = "drill.run"
ACTOR = "releasegate-drill"
Reply = Callable[[str], Awaitable[None]]


class DrillBusy(RuntimeError):
    pass


# -- the drill -------------------------------------------------------------------------------


@dataclass
class DrillOptions:
    channel: str
    user: str
    # How long the Preview owners get; default: two SLAs (the escalation included) plus a minute.
    approve_timeout: float | None = None
    # How long traffic and the rollback may take to show up before the drill gives up.
    phase_timeout: float = 180.0
    n_per_arm: int = 1000
    timer_id: int | None = None


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def poll(check: Callable[[], Awaitable[T | None]], timeout: float, interval: float = 0.1) -> T | None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        got = await check()
        if got is not None:
            return got
        if loop.time() >= end:
            return None
        await asyncio.sleep(interval)


@dataclass
class DrillRunner:
    lc: Lifecycle
    store: DrillStore
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _seen_timers: set[int] = field(default_factory=set)
    last: DrillRun | None = None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    async def run(self, opts: DrillOptions) -> DrillRun:
        if self._lock.locked():
            raise DrillBusy("a drill is already running")
        async with self._lock:
            record = await self._run(opts)
            self.last = record
            return record

    async def _owed_deliveries(self, name: str) -> list[SlackCall]:
        """Messages owed in the drill release's own transactions (decisions, escalations, traffic
        steps, rollbacks) never pass the timed wrapper: their delivery is enqueue → sent."""
        outbox = self.lc.slack.outbox
        release = await self.lc.store.latest_release(name)
        if outbox is None or release is None or release.id is None:
            return []
        out: list[SlackCall] = []
        for row in await outbox.store.rows(release_id=release.id):
            if row.state == OutboxState.SENT and row.sent_at is not None:
                out.append(
                    SlackCall(row.method, release.channel_id, (row.sent_at - row.created_at).total_seconds(), True)
                )
            elif row.state == OutboxState.FAILED:
                out.append(SlackCall(row.method, release.channel_id, 0.0, False))
        return out

    async def _run(self, opts: DrillOptions) -> DrillRun:
        lc = self.lc
        started = lc.clock()
        name = f"drill-{started:%Y%m%d-%H%M%S}"
        calls: list[SlackCall] = []
        traffic = TimedTraffic(lc.traffic, name, lc.clock)
        canary = SyntheticCanary(name, lc.evaluators.get(Phase.CANARY) or _no_gates, lc.clock, opts.n_per_arm)
        detail: dict[str, Any] = {"lcp_shift": LCP_SHIFT, "n_per_arm": opts.n_per_arm}
        if opts.timer_id is not None:
            detail["timer_id"] = opts.timer_id
        record = DrillRun(
            release_name=name,
            channel_id=opts.channel,
            started_by=opts.user,
            started_at=started,
            finished_at=started,
            outcome="error",
            engine=traffic.name,
            detail=detail,
        )
        # Only the drill's own release sees the timing wrappers and the synthetic Canary: the shared
        # collaborators stay as they are for every other release running meanwhile.
        timed = TimedSlack(lc.slack, calls)
        lc.release_hooks[name] = ReleaseHooks(slack=timed, traffic=traffic, evaluators={Phase.CANARY: canary})
        try:
            await self._script(opts, name, record, traffic, canary)
        except Exception as exc:
            log.exception("drill %s failed", name)
            record.outcome = "error"
            detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            lc.release_hooks.pop(name, None)
        mine = [c for c in calls if c.channel == opts.channel or c.method == "dm"]
        mine += await self._owed_deliveries(name)
        ok = [c.seconds for c in mine if c.ok]
        record.slack_calls = len(mine)
        record.slack_failures = sum(1 for c in mine if not c.ok)
        record.slack_p50_s, record.slack_p95_s = _pct(ok, 0.5), _pct(ok, 0.95)
        record.slack_max_s = max(ok) if ok else None
        record.finished_at = lc.clock()
        recent = await self.store.recent(limit=1)
        previous = recent[0] if recent else None
        await self.store.add(record)
        await lc.store.audit(
            AuditNote(
                ACTOR,
                "drill.finished",
                record.outcome,
                {
                    "drill": record.id,
                    "release": name,
                    "approver_response_s": record.approver_response_s,
                    "rollback_engine_s": record.rollback_engine_s,
                    "slack_p95_s": record.slack_p95_s,
                },
            ),
            lc.clock(),
            None,
        )
        try:
            await lc.slack.post(
                opts.channel, f"Game-day drill report: {name} {record.outcome}", report_blocks(record, previous)
            )
        except Exception:
            # The numbers are stored either way; `/release drill history` shows them.
            log.exception("could not post the report of drill %s", name)
        return record

    async def _script(
        self, opts: DrillOptions, name: str, record: DrillRun, traffic: TimedTraffic, canary: SyntheticCanary
    ) -> None:
        lc = self.lc
        policy = lc.policy
        preview = policy.phases.preview
        approve_timeout = (
            opts.approve_timeout if opts.approve_timeout is not None else 2 * preview.sla_delta.total_seconds() + 60
        )
        hooks = lc.release_hooks.get(name)
        slack = hooks.slack if hooks is not None and hooks.slack is not None else lc.slack
        await slack.post(
            opts.channel,
            f"Game-day drill {name} starting",
            [
                section(
                    f"🧯 *Game-day drill* `{name}` started by <@{opts.user}>. It is a real release of sample images "
                    f"with a Canary that will be made to fail on purpose. Preview owners: decide on it as you would on "
                    f"a real one (within {format_duration(timedelta(seconds=approve_timeout))}). "
                    "Nothing reaches users: the Canary is rolled back by the gates."
                )
            ],
        )
        await asyncio.to_thread(summer_hero, lc.releases_dir, name)
        await lc.start(name, opts.channel, opts.user)
        release = await lc.store.latest_release(name)
        if release is None or release.id is None:
            raise RuntimeError(f"the drill release {name} was not created (see the thread or the logs)")
        record.release_id = release.id
        rid = release.id

        async def decided() -> tuple[Any, Any] | None:
            ds = [d for d in await lc.store.decisions(rid) if d.phase == Phase.PREVIEW.value]
            if not ds:
                return None
            return ds[0], await lc.store.approval_request(ds[0].approval_request_id)

        got = await poll(decided, approve_timeout, interval=0.2)
        if got is None:
            record.outcome = "no_response"
            await self._abandon(rid, "no Preview decision within the drill's time limit")
            return
        decision, request = got
        record.approver = decision.by
        record.approver_response_s = round((decision.at - request.created_at).total_seconds(), 3)
        record.escalated = request.escalation_level > 0
        if decision.decision != DecisionKind.APPROVE:
            record.outcome = "rejected"
            return

        async def canary_traffic() -> datetime | None:
            return traffic.first(lambda p: p > 0)

        if await poll(canary_traffic, opts.phase_timeout) is None:
            record.outcome = "rollback_not_seen"
            record.detail["why"] = "Canary traffic never reached the engine"
            return
        canary.make_failure_visible()
        visible = canary.failure_visible_at
        assert visible is not None

        async def zero() -> datetime | None:
            return traffic.first(lambda p: p <= 0, after=visible)

        at_zero = await poll(zero, opts.phase_timeout, interval=0.05)
        if canary.detected_at is not None:
            record.rollback_detect_s = round((canary.detected_at - visible).total_seconds(), 3)
        record.detail["failed_gates"] = sorted({r.gate for r in canary.results if r.status is Status.FAIL})
        if at_zero is None:
            record.outcome = "rollback_not_seen"
            return
        record.rollback_engine_s = round((at_zero - visible).total_seconds(), 3)
        fresh = await lc.store.release(rid)
        record.outcome = (
            "completed" if fresh is not None and fresh.state == State.ROLLED_BACK.value else "rollback_not_seen"
        )

    async def _abandon(self, release_id: int, why: str) -> None:
        """Close the drill release nobody decided on, so it does not wait (and escalate) forever."""
        release = await self.lc.store.release(release_id)
        if release is None or release.state in (s.value for s in (State.COMPLETED, State.REJECTED, State.ROLLED_BACK)):
            return
        await self.lc.store.transition(
            release_id,
            StateChange(release.phase, release.state, release.phase, State.REJECTED.value, None),
            AuditNote(ACTOR, "drill.abandoned", "ok", {"why": why}),
            self.lc.clock(),
        )

    # -- entry points ---------------------------------------------------------------------

    async def on_timer(self, timer: Timer) -> None:
        """A drill requested by ``releasegate drill``: started in the background (timers must be quick)."""
        if timer.id in self._seen_timers:
            return
        if timer.id is not None:
            self._seen_timers.add(timer.id)
        p = timer.payload
        opts = DrillOptions(
            channel=str(p["channel"]),
            user=str(p.get("user") or ACTOR),
            approve_timeout=float(p["approve_timeout"]) if p.get("approve_timeout") else None,
            timer_id=timer.id,
        )
        self.lc.spawn(self._run_quietly(opts), f"drill:{timer.id}")

    async def _run_quietly(self, opts: DrillOptions) -> None:
        try:
            await self.run(opts)
        except DrillBusy:
            await self.lc.slack.post(opts.channel, "A drill is already running; this request was dropped.")


_RUNNERS: dict[int, DrillRunner] = {}


def drills_for(lc: Lifecycle) -> DrillRunner:
    """One runner per lifecycle (one drill at a time per bot process)."""
    key = id(lc)
    runner = _RUNNERS.get(key)
    if runner is None or runner.lc is not lc:
        runner = DrillRunner(lc, DrillStore(lc.store.engine))
        _RUNNERS[key] = runner
        weakref.finalize(lc, _RUNNERS.pop, key, None)
    return runner


async def drill_command(lc: Lifecycle, channel: str, user: str, reply: Reply) -> None:
    """``/release drill``: any owner of any phase may run one (it pings real approvers)."""
    owners = [o for ph in Phase for o in (*lc.policy.owners(ph).primary, *lc.policy.owners(ph).backup)]
    if not await is_owner(lc.slack, user, owners):
        await reply("Only release owners (any phase, see the policy) can run a game-day drill.")
        return
    runner = drills_for(lc)
    if runner.busy:
        await reply("A drill is already running; wait for its report.")
        return
    await reply("🧯 Drill starting: watch the channel. `/release drill history` compares past drills.")
    try:
        await runner.run(DrillOptions(channel=channel, user=user))
    except DrillBusy:
        await reply("A drill is already running; wait for its report.")


async def drill_history_command(lc: Lifecycle, channel: str, user: str) -> None:
    rows = await DrillStore(lc.store.engine).recent(limit=12)
    await lc.slack.ephemeral(channel, user, "Game-day drills", history_blocks(rows))
