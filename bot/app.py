"""Assembles the bot: database, Slack client, Bolt app, lifecycle, HTTP routes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.artifacts.checkpoints import maybe_checkpoint
from bot.drill.drill import DRILL_TIMER, drills_for
from bot.http import api, inspector
from bot.http.context import HttpContext
from bot.http.loop_monitor import LoopMonitor
from bot.http.slack_guard import slack_guard
from bot.listeners.register import register
from bot.metrics.source import make_metrics_source
from bot.preview.runner import default_workers
from bot.release.escalation import on_sla_escalate, on_sla_pause
from bot.release.flow import OBSERVE_TIMER, RECONCILE_TIMER, REVIEW_TIMER, Clock, Lifecycle
from bot.release.observation import on_observe_sla
from bot.release.recovery import recover
from bot.release.traffic_gates import TrafficGates
from bot.scheduling.timer_loop import TimerLoop, default_worker_id
from bot.settings import Settings
from bot.slack.access import is_auditor
from bot.slack.client import Slack, make_client
from bot.slack.outbox import OutboxSender
from bot.traffic.factory import TrafficConfigError, make_traffic
from gates.phases import Phase
from gates.policy import Policy
from storage.db import current_revision, make_engine, upgrade
from storage.outbox import OutboxStore
from storage.repo import SLA_ESCALATE, SLA_PAUSE, Store
from storage.timers import TimerStore

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class StartupError(RuntimeError):
    """Start-up cannot continue; the message is one line for the operator."""


async def prepare_database(url: str) -> AsyncEngine:
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        await upgrade(engine)  # SQLite is per-process and created on first start
    else:
        rev = await current_revision(engine)
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        from storage.db import MIGRATIONS

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if rev != head:
            await engine.dispose()
            raise StartupError(
                f"database schema is at {rev or 'nothing'}, this version needs {head}: run `releasegate db upgrade`"
            )
    return engine


@dataclass
class InFlight:
    """How many Slack requests the HTTP server is answering right now (the lifecycle lets acks go first)."""

    n: int = 0

    def count(self) -> int:
        return self.n


@dataclass
class Bot:
    settings: Settings
    engine: AsyncEngine
    store: Store
    slack: Slack
    bolt: AsyncApp
    lifecycle: Lifecycle
    timers: TimerLoop
    outbox: OutboxSender
    in_flight: InFlight = field(default_factory=InFlight)
    _checkpointer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Background work: resume interrupted gates, then fire due timers (also those missed while down)."""
        # Messages owed before a crash or restart go out first.
        await self.outbox.start()
        await recover(self.lifecycle)
        await self.timers.start()
        self._checkpointer = asyncio.get_running_loop().create_task(self._checkpoint_loop(), name="checkpoints")

    async def _checkpoint_loop(self) -> None:
        """Sign the audit head every N entries or T minutes (no-op without a signing key)."""
        while True:
            try:
                await maybe_checkpoint(self.store, self.settings, self.slack, utcnow())
            except Exception:
                log.exception("writing an audit checkpoint failed; retrying on the next round")
            await asyncio.sleep(min(30.0, self.settings.checkpoint_minutes * 60 / 4))

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
        await self.timers.stop(timeout=10)
        await self.lifecycle.drain(timeout=10)
        await self.outbox.stop(timeout=10)
        for t in list(self.lifecycle.tasks):
            t.cancel()
        await self.engine.dispose()


async def build_bot(settings: Settings, policy: Policy, *, clock: Clock = utcnow) -> Bot:
    if not settings.slack_bot_token:
        raise StartupError("setting SLACK_BOT_TOKEN is required (xoxb-…)")
    try:
        traffic = make_traffic(policy, settings)
    except TrafficConfigError as exc:
        raise StartupError(str(exc)) from None
    engine = await prepare_database(settings.database_url)
    store = Store(engine)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    outbox = OutboxSender(
        OutboxStore(engine),
        client,
        clock=clock,
        worker_id=default_worker_id(),
        poll_seconds=min(1.0, settings.tick_seconds),
        lease=timedelta(seconds=settings.outbox_lease_seconds),
    )
    slack = Slack(client, outbox)
    bolt = AsyncApp(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret or "socket-mode-has-no-signing-secret",
        client=client,
        # Socket Mode requests arrive over our own authenticated websocket; only HTTP needs signatures.
        request_verification_enabled=settings.slack_signing_secret is not None,
    )
    traffic_gates = TrafficGates(make_metrics_source(settings, engine), clock)
    in_flight = InFlight()
    # Every collaborator comes in here, so the lifecycle is complete the moment it exists.
    lifecycle = Lifecycle(
        store=store,
        slack=slack,
        policy=policy,
        releases_dir=Path(settings.releases_dir),
        clock=clock,
        evaluators={Phase.CANARY: traffic_gates.canary, Phase.GLOBAL: traffic_gates.global_},
        traffic=traffic,
        artifacts_dir=Path(settings.artifacts_dir),
        workers=settings.workers or default_workers(),
        charts=traffic_gates.charts,
        requests_in_flight=in_flight.count,
        outbox_kick=outbox.kick,
        settings=settings,
    )
    register(bolt, lifecycle)
    timers = TimerLoop(
        TimerStore(engine),
        clock=clock,
        tick_seconds=settings.tick_seconds,
        claim_timeout=timedelta(seconds=settings.timer_claim_timeout),
    )
    timers.register(SLA_ESCALATE, partial(on_sla_escalate, lifecycle))
    timers.register(SLA_PAUSE, partial(on_sla_pause, lifecycle))
    timers.register(REVIEW_TIMER, lifecycle.on_review_due)
    timers.register(RECONCILE_TIMER, lifecycle.on_reconcile_traffic)
    timers.register(OBSERVE_TIMER, partial(on_observe_sla, lifecycle))
    timers.register(DRILL_TIMER, drills_for(lifecycle).on_timer)
    return Bot(settings, engine, store, slack, bolt, lifecycle, timers, outbox, in_flight)


def build_web_app(bot: Bot) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)

    in_flight = bot.in_flight

    verifier = SignatureVerifier(bot.settings.slack_signing_secret or "")

    async def slack_events(request: web.Request) -> web.StreamResponse:
        in_flight.n += 1
        try:
            # Events API deliveries are JSON with an event_id; commands and clicks are form posts.
            if request.content_type == "application/json" and await _is_redelivery(request):
                # Slack retries (X-Slack-Retry-Num) an event it thinks we missed; it was handled already.
                return web.Response(status=200, headers={"X-Releasegate-Duplicate": "1"})
            if request.content_type != "application/json" and await _is_replay(request):
                # Slack never sends a command or click twice with the same signature: a copy replayed
                # within the 5-minute window is someone else's, and it changes nothing.
                return web.Response(status=200, headers={"X-Releasegate-Duplicate": "1"})
            bolt_req = await to_bolt_request(request)
            bolt_resp = await bot.bolt.async_dispatch(bolt_req)
            return await to_aiohttp_response(bolt_resp)
        finally:
            in_flight.n -= 1

    async def _is_replay(request: web.Request) -> bool:
        signature = request.headers.get("X-Slack-Signature", "")
        if not bot.settings.slack_signing_secret or not signature:
            return False  # Socket Mode: requests come over our own websocket, not replayable from outside
        key = "sig:" + hashlib.sha256(signature.encode("utf-8", "surrogatepass")).hexdigest()[:56]
        return not await bot.store.first_delivery(key, utcnow())

    async def _is_redelivery(request: web.Request) -> bool:
        body = await request.text()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not verifier.is_valid_request(body, headers):
            return False  # Bolt refuses it properly below
        try:
            event_id = json.loads(body).get("event_id")
        except (ValueError, AttributeError):
            return False
        return isinstance(event_id, str) and not await bot.store.first_delivery(event_id, utcnow())

    monitor = LoopMonitor()
    monitor.install(app)

    async def healthz(_: web.Request) -> web.Response:
        try:
            await bot.store.list_releases(limit=1)
        except Exception as exc:  # the health check says what is wrong instead of a 500 trace
            return web.json_response({"ok": False, "database": str(exc)[:200]}, status=503)
        return web.json_response({"ok": True, "loop": monitor.report()})

    app.middlewares.append(slack_guard(bot.settings.slack_signing_secret))
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    ctx = HttpContext(
        bot.settings, bot.store, bot.engine, bot.lifecycle.clock, partial(is_auditor, bot.slack, bot.lifecycle.policy)
    )
    api.add_routes(app, ctx)
    inspector.add_routes(app, ctx)  # audit inspector: /inspector pages (bot/http/inspector)
    return app
