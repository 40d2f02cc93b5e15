"""`releasegate drill` asks the running bot (it owns Slack's request URL) through a durable timer."""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from bot.drill.drill import ACTOR, DRILL_TIMER, poll
from bot.drill.report import history_table
from bot.settings import Settings
from gates.durations import parse_duration
from storage.drills import DrillRun, DrillStore

log = logging.getLogger(__name__)

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

        record = await poll(finished, args.wait, interval=1.0)
        if record is None:
            print("no drill report yet; `releasegate drill history` shows it once it is done")
            return 1
        print(history_table([record]))
        return 0 if record.outcome == "completed" else 1
    finally:
        await engine.dispose()
