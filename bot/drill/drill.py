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

While a drill runs it wraps the lifecycle's Slack client, traffic controller and Canary
evaluator with timing shims that pass everything through unchanged (other releases are judged
by the normal evaluator); all three are put back when the drill ends.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.drill.samples import summer_hero
from bot.drill.traffic_sim import rum_batch
from bot.release.flow import Lifecycle, PhaseEvaluator, ReleaseHooks
from bot.settings import Settings
from bot.slack.authz import is_owner
from bot.slack.blocks.text import esc, header, section
from bot.slack.client import Blocks, Slack
from bot.traffic.protocol import Split, TrafficController
from gates.canary import evaluate_canary
from gates.durations import format_duration, parse_duration
from gates.metrics import CohortPair, Window, validate_batch
from gates.phases import Phase, State
from gates.policy import CanaryGates, P75Config, Policy
from gates.result import GateResult, Status
from storage.drills import DrillRun, DrillStore
from storage.models import PhaseRun, Release, Timer
from storage.repo import AuditNote, StateChange

log = logging.getLogger(__name__)

DRILL_TIMER = "drill.run"
ACTOR = "releasegate-drill"
LCP_SHIFT = 1.4
T = TypeVar("T")
Reply = Callable[[str], Awaitable[None]]


class DrillBusy(RuntimeError):
    pass


# -- timing shims ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackCall:
    method: str
    channel: str
    seconds: float
    ok: bool


class TimedSlack(Slack):
    """Times the calls the lifecycle makes; behaviour is the wrapped client's."""

    def __init__(self, inner: Slack, calls: list[SlackCall]) -> None:
        super().__init__(inner.client, inner.outbox)
        self.inner = inner
        self.calls = calls

    async def _timed(self, method: str, channel: str, coro: Awaitable[T]) -> T:
        started = time.perf_counter()
        ok = False
        try:
            result = await coro
            ok = True
            return result
        finally:
            self.calls.append(SlackCall(method, channel, time.perf_counter() - started, ok))

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        *,
        key: str | None = None,
    ) -> str:
        return await self._timed(
            "chat.postMessage", channel, self.inner.post(channel, text, blocks, thread_ts, key=key)
        )

    async def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        await self._timed("chat.update", channel, self.inner.update(channel, ts, text, blocks))

    async def ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None) -> None:
        await self._timed("chat.postEphemeral", channel, self.inner.ephemeral(channel, user, text, blocks))

    async def dm(self, user: str, text: str, blocks: Blocks | None = None) -> tuple[str, str]:
        return await self._timed("dm", user, self.inner.dm(user, text, blocks))

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str) -> None:
        await self._timed("files.upload", channel, self.inner.upload(channel, thread_ts, filename, content, title))


class TimedTraffic:
    """Notes when the engine *confirmed* each split of the drill release (after ``apply`` returned)."""

    def __init__(self, inner: TrafficController, release: str, clock: Callable[[], datetime]) -> None:
        self.inner = inner
        self.name = inner.name
        self.release = release
        self.clock = clock
        self.confirmed: list[tuple[datetime, float]] = []
        self.changed = asyncio.Event()

    async def apply(self, split: Split) -> None:
        await self.inner.apply(split)
        if split.release == self.release:
            self.confirmed.append((self.clock(), split.percent))
            self.changed.set()

    def first(self, pred: Callable[[float], bool], after: datetime | None = None) -> datetime | None:
        return next((at for at, pct in self.confirmed if pred(pct) and (after is None or at >= after)), None)


async def _no_gates(release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
    return []


def synthetic_canary(
    release: str, policy: Policy, started_at: datetime, now: datetime, n_per_arm: int, seed: int = 7
) -> list[GateResult]:
    """The real Canary gates on synthetic RUM with a 40% slower LCP (CPU work: call in a thread).

    Synthetic data is complete the moment it exists, so the observation window and the sample
    minimum are set to what was generated; the LCP gate is on even if the policy turned it off,
    because a drill without a failing gate would measure nothing.
    """
    batch = validate_batch(rum_batch(release, n_per_arm=n_per_arm, lcp_shift=LCP_SHIFT, seed=seed))
    data = CohortPair.from_samples(batch.accepted)
    canary = policy.phases.canary
    lcp = canary.gates.lcp_p75 or P75Config(max_increase_ms=150)
    cfg = canary.model_copy(
        update={
            "observe": "0.001s",
            "min_samples": n_per_arm,
            "gates": canary.gates.model_copy(update={"lcp_p75": lcp}),
        }
    )
    assert isinstance(cfg.gates, CanaryGates)
    return evaluate_canary(data, cfg, Window(started_at, max(now, started_at + timedelta(milliseconds=1))), now)


class SyntheticCanary:
    """Canary evaluator for the drill release; every other release goes to the normal one."""

    def __init__(self, release: str, fallback: PhaseEvaluator, clock: Callable[[], datetime], n_per_arm: int) -> None:
        self.release = release
        self.fallback = fallback
        self.clock = clock
        self.n_per_arm = n_per_arm
        self.failure_visible_at: datetime | None = None
        self.detected_at: datetime | None = None
        self.results: list[GateResult] = []

    def make_failure_visible(self) -> None:
        self.failure_visible_at = self.clock()

    async def __call__(self, release: Release, run: PhaseRun, policy: Policy) -> list[GateResult]:
        if release.name != self.release:
            return await self.fallback(release, run, policy)
        if self.failure_visible_at is None:
            # Inconclusive holds the phase open (neither approved nor rolled back) until the drill acts.
            return [
                GateResult(
                    gate="drill",
                    status=Status.INCONCLUSIVE,
                    summary="game-day drill: waiting for the synthetic traffic",
                )
            ]
        results = await asyncio.to_thread(
            synthetic_canary, release.name, policy, run.started_at, self.clock(), self.n_per_arm
        )
        if self.detected_at is None and any(r.status is Status.FAIL for r in results):
            self.detected_at = self.clock()
            self.results = results
        return results


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


async def _poll(check: Callable[[], Awaitable[T | None]], timeout: float, interval: float = 0.1) -> T | None:
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
            if row.state == "sent" and row.sent_at is not None:
                out.append(
                    SlackCall(row.method, release.channel_id, (row.sent_at - row.created_at).total_seconds(), True)
                )
            elif row.state == "failed":
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

        got = await _poll(decided, approve_timeout, interval=0.2)
        if got is None:
            record.outcome = "no_response"
            await self._abandon(rid, "no Preview decision within the drill's time limit")
            return
        decision, request = got
        record.approver = decision.by
        record.approver_response_s = round((decision.at - request.created_at).total_seconds(), 3)
        record.escalated = request.escalation_level > 0
        if decision.decision != "approve":
            record.outcome = "rejected"
            return

        async def canary_traffic() -> datetime | None:
            return traffic.first(lambda p: p > 0)

        if await _poll(canary_traffic, opts.phase_timeout) is None:
            record.outcome = "rollback_not_seen"
            record.detail["why"] = "Canary traffic never reached the engine"
            return
        canary.make_failure_visible()
        visible = canary.failure_visible_at
        assert visible is not None

        async def zero() -> datetime | None:
            return traffic.first(lambda p: p <= 0, after=visible)

        at_zero = await _poll(zero, opts.phase_timeout, interval=0.05)
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


# -- rendering -------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "—" if value is None else (f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s")


def _delta(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    diff = now - before
    return f" ({'+' if diff >= 0 else '−'}{_s(abs(diff))} vs last drill)"


OUTCOME = {
    "completed": "✅ completed",
    "no_response": "⏰ no approver response",
    "rejected": "❌ rejected by approver",
    "rollback_not_seen": "⚠️ rollback not confirmed",
    "error": "💥 drill error",
}


def report_blocks(r: DrillRun, previous: DrillRun | None = None) -> list[dict[str, Any]]:
    prev = previous
    who = f"<@{r.approver}>" if r.approver else "nobody"
    lines = [
        f"*Outcome:* {OUTCOME.get(r.outcome, esc(r.outcome))} · release `{esc(r.release_name)}` · "
        f"engine {esc(r.engine)}",
        f"*Approver response:* {_s(r.approver_response_s)} by {who}"
        f"{' (after escalation to backups)' if r.escalated else ''}"
        f"{_delta(r.approver_response_s, prev.approver_response_s if prev else None)}",
        f"*Slack delivery:* {r.slack_calls} calls, p50 {_s(r.slack_p50_s)}, p95 {_s(r.slack_p95_s)}, "
        f"max {_s(r.slack_max_s)}, {r.slack_failures} failed"
        f"{_delta(r.slack_p95_s, prev.slack_p95_s if prev else None)}",
        f"*Rollback:* failure → failing verdict {_s(r.rollback_detect_s)}, failure → engine at 0% "
        f"{_s(r.rollback_engine_s)}{_delta(r.rollback_engine_s, prev.rollback_engine_s if prev else None)}",
    ]
    if r.detail.get("failed_gates"):
        lines.append(f"Failed gates: {esc(', '.join(r.detail['failed_gates']))} (synthetic LCP ×{LCP_SHIFT})")
    if r.detail.get("error") or r.detail.get("why"):
        lines.append(f"Note: {esc(str(r.detail.get('error') or r.detail.get('why')))}")
    return [header(f"🧯 Game-day drill report — {r.release_name}"), section("\n".join(lines))]


def history_table(rows: Sequence[DrillRun]) -> str:
    head = f"{'started (UTC)':<17} {'outcome':<17} {'approver':>9} {'slack p95':>9} {'detect':>7} {'→ 0%':>7}"
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r.started_at.astimezone(UTC):%Y-%m-%d %H:%M} {r.outcome:<17} {_s(r.approver_response_s):>9} "
            f"{_s(r.slack_p95_s):>9} {_s(r.rollback_detect_s):>7} {_s(r.rollback_engine_s):>7}"
        )
    return "\n".join(out)


def history_blocks(rows: Sequence[DrillRun]) -> list[dict[str, Any]]:
    if not rows:
        return [section("No game-day drill has run yet. `/release drill` runs one.")]
    return [
        header("Game-day drills (newest first)"),
        section(f"```{history_table(rows)}```"),
        section(
            "Approver = Preview request → decision. Detect = failure visible → failing verdict. "
            "→ 0% = failure visible → traffic engine confirmed 0%."
        ),
    ]


# -- CLI: `releasegate drill` asks the running bot (it owns Slack's request URL) -------------


def add_drill_parser(sub: Any) -> None:
    p = sub.add_parser("drill", help="run a game-day drill through the running bot, or show drill history")
    p.add_argument("what", nargs="?", choices=["run", "history"], default="run")
    p.add_argument("--channel", help="Slack channel ID for the drill (required for run)")
    p.add_argument("--user", default=ACTOR, help="who the drill is started as (a Slack user ID)")
    p.add_argument("--approve-timeout", default=None, help="how long Preview owners get, e.g. 20m")
    p.add_argument(
        "--wait", type=float, default=0.0, metavar="SECONDS", help="wait up to this long for the report and print it"
    )


def drill_main(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_drill_cli(args, settings))


async def _drill_cli(args: argparse.Namespace, settings: Settings) -> int:
    from storage.db import make_engine
    from storage.timers import TimerStore

    engine = make_engine(settings.database_url)
    try:
        store = DrillStore(engine)
        if args.what == "history":
            print(history_table(await store.recent(limit=50)))
            return 0
        if not args.channel:
            print("releasegate drill: --channel is required (the channel the drill runs in)")
            return 2
        timeout = parse_duration(args.approve_timeout).total_seconds() if args.approve_timeout else None
        timer_id = await TimerStore(engine).schedule(
            DRILL_TIMER, 0, datetime.now(UTC), {"channel": args.channel, "user": args.user, "approve_timeout": timeout}
        )
        print(f"drill requested (timer {timer_id}); the running bot starts it on its next tick")
        if args.wait <= 0:
            return 0

        async def finished() -> DrillRun | None:
            return next((r for r in await store.recent(limit=20) if r.detail.get("timer_id") == timer_id), None)

        record = await _poll(finished, args.wait, interval=1.0)
        if record is None:
            print("no drill report yet; `releasegate drill history` shows it once it is done")
            return 1
        print(history_table([record]))
        return 0 if record.outcome == "completed" else 1
    finally:
        await engine.dispose()
