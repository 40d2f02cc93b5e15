"""Rollback: traffic to 0 % (pushed until the engines have it), and the thread told why."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from bot.release.core import (
    BOT,
    RECONCILE_AFTER,
    RECONCILE_TIMER,
    bundle_facts,
    thread_note,
)
from bot.release.summary import Summaries
from bot.release.views import release_policy
from bot.slack.blocks import gates as gate_blocks
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc, plain
from bot.traffic.protocol import Split
from gates.phases import Phase
from gates.result import GateResult, Status
from storage.models import Release, Timer
from storage.repo import AuditNote, Owed

log = logging.getLogger(__name__)


class Rollbacks(Summaries):
    def rollback_note(
        self, release: Release, results: Sequence[GateResult], reason: str | None, by: str | None = None
    ) -> Owed | None:
        """The rollback's explanation, owed in the rollback's own transaction (None before a root)."""
        key = f"release:{release.id}:rolled_back:{release.phase}"
        return thread_note(
            release, key, f"{release.name} rolled back", self._rollback_blocks(release, results, reason, by)
        )

    async def announce_rollback(
        self,
        release: Release,
        results: Sequence[GateResult],
        reason: str | None,
        by: str | None = None,
        *,
        owed: bool = False,
    ) -> None:
        """Say why the release rolled back (unless that was owed with the rollback) and sum it up."""
        if owed:
            self.outbox_kick()
        else:
            blocks = self._rollback_blocks(release, results, reason, by)
            await self.thread(release, f"{release.name} rolled back", blocks)
        await self._final_summary(release)

    def _rollback_blocks(
        self, release: Release, results: Sequence[GateResult], reason: str | None, by: str | None
    ) -> list[dict[str, Any]]:
        policy = release_policy(release)
        owners = policy.owners(Phase(release.phase)).primary
        failing = [r for r in results if r.status is Status.FAIL]
        lines = [f"↩️ *{Phase(release.phase).label} rolled back* — traffic to the candidate is now 0%."]
        for r in failing[:10]:
            lines.append(
                f"• *{esc(r.gate)}*: measured {gate_blocks.fmt_value(r.measured, r.unit)}, "
                f"threshold {gate_blocks.fmt_value(r.threshold, r.unit)} — {esc(r.summary)}"
            )
        if by:
            # The mention is ours; only the free-text reason came from a user and is escaped.
            lines.append(f"Requested by <@{by}>" + (f": {esc(reason)}" if reason else ""))
        elif reason:
            lines.append(f"Reason: {esc(reason)}")
        blocks: list[dict[str, Any]] = []
        if Phase(release.phase) is Phase.CANARY:
            lines.append(
                f"{release_blocks.mentions(owners)}: retry the Canary once the cause is fixed, "
                f"or start over with `/release start {release.name}`."
            )
            blocks = [
                release_blocks.section("\n".join(lines)),
                {
                    "type": "actions",
                    "block_id": f"retry:{release.id}",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "retry_canary",
                            "text": plain("Retry Canary"),
                            "value": json.dumps({"release": release.id}),
                        }
                    ],
                },
            ]
        else:
            lines.append(
                f"{release_blocks.mentions(owners)}: fix and start it again with `/release start {release.name}`."
            )
            blocks = [release_blocks.section("\n".join(lines))]
        return blocks

    async def zero_traffic(self, release: Release, reason: str, actor: str = BOT) -> None:
        """The engines get 0 % (the database already says so); the move is an audit entry of its own."""
        outcome, error = "ok", None
        engine = self.traffic_for(release)
        try:
            await engine.apply(Split(release.name, release.phase, 0.0, {}, reason, **bundle_facts(release)))
        except Exception as exc:
            # The database already says 0%; a durable timer keeps pushing that to the engine.
            log.exception("traffic engine %s failed to roll back %s; retrying", engine.name, release.name)
            outcome, error = "retrying", f"{type(exc).__name__}: {exc}"[:300]
            await self.store.schedule_timer(
                RECONCILE_TIMER,
                release.id or 0,
                self.clock() + RECONCILE_AFTER,
                key=f"{RECONCILE_TIMER}:{release.id}:{int(self.clock().timestamp())}",
            )
        await self.safe(
            f"auditing the rollback traffic of {release.name}",
            self.store.audit(
                AuditNote(
                    actor,
                    "traffic.rollback",
                    outcome,
                    {"percent": 0.0, "reason": reason, "engine": self.traffic_for(release).name, "error": error},
                ),
                self.clock(),
                release,
            ),
        )

    async def on_reconcile_traffic(self, timer: Timer) -> None:
        """Push the recorded split to the engines again; raising makes the timer loop retry with backoff."""
        release = await self.store.release(timer.target_id)
        if release is None:
            return
        await self.traffic_for(release).apply(
            Split(release.name, release.phase, release.traffic_percent, {}, "reconcile", **bundle_facts(release))
        )
        log.info("traffic for %s reconciled at %g%%", release.name, release.traffic_percent)
