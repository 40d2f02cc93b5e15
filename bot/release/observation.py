"""Canary/Global still inconclusive when the SLA runs out: ask the owners to extend or roll back."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from bot.release.flow import BOT, OBSERVE_TIMER, Lifecycle
from bot.release.views import release_policy
from bot.slack.blocks import gates as gate_blocks
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc, plain
from gates.durations import format_duration
from gates.phases import Phase, State
from gates.result import GateResult, Status
from storage.models import Timer
from storage.repo import AuditNote


async def on_observe_sla(lc: Lifecycle, timer: Timer) -> None:
    """The SLA ran out while Canary/Global is still inconclusive: ask the owners to extend or roll back."""
    release = await lc.store.release(timer.target_id)
    run = await lc.store.current_run(timer.target_id) if release else None
    if release is None or run is None or run.id != timer.payload.get("run"):
        return
    if release.state != State.RUNNING.value:
        return  # decided, awaiting approval, paused or over: nothing to ask
    phase = Phase(release.phase)
    cfg = release_policy(release).phase(phase)
    latest = [GateResult.from_dict(d) for d in run.latest_results]
    open_gates = [r for r in latest if r.status is Status.INCONCLUSIVE]
    lines = [
        f"⏳ *{phase.label} is still inconclusive* after {format_duration(cfg.sla_delta)} of observation "
        f"at {release.traffic_percent:g}% traffic."
    ]
    lines += [f"• *{esc(r.gate)}*: {esc(r.summary)}" for r in open_gates[:8]]
    lines.append(f"{release_blocks.mentions(cfg.owners.primary)}: extend the observation, or roll back.")
    value = json.dumps({"release": release.id, "run": run.id})
    blocks: list[dict[str, Any]] = [
        release_blocks.section("\n".join(lines)),
        {
            "type": "actions",
            "block_id": f"observe:{run.id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "extend_observation",
                    "style": "primary",
                    "text": plain("Extend observation"),
                    "value": value,
                },
                gate_blocks.rollback_button(release.name, phase, value),
            ],
        },
    ]
    await lc.store.audit(
        AuditNote(BOT, "observe.sla", "asked", {"run": run.id, "inconclusive": [r.gate for r in open_gates]}),
        lc.clock(),
        release,
    )
    await lc.thread(release, f"{release.name}: {phase.label} still inconclusive", blocks)


async def extend_observation(
    lc: Lifecycle, release_id: int, run_id: int, user: str, reply: Callable[[str], Awaitable[None]]
) -> None:
    release = await lc.store.release(release_id)
    run = await lc.store.current_run(release_id) if release else None
    if release is None or run is None or run.id != run_id or release.state != State.RUNNING.value:
        await reply("That observation is over; nothing changed.")
        return
    phase = Phase(release.phase)
    cfg = release_policy(release).phase(phase)
    if not await lc.owner_or_refuse(
        release, phase, user, "observe.extend", "extend the observation", reply, name_owners=False
    ):
        return
    now = lc.clock()
    await lc.store.schedule_timer(
        OBSERVE_TIMER,
        release_id,
        now + cfg.sla_delta,
        payload={"run": run_id},
        key=f"{OBSERVE_TIMER}:{run_id}:{int(now.timestamp() * 1000)}",
    )
    await lc.store.audit(AuditNote(user, "observe.extend", "ok", {"run": run_id, "by": cfg.sla}), now, release)
    await lc.thread(
        release,
        f"{release.name}: observation extended",
        [release_blocks.section(f"⏳ Observation extended by <@{user}> for another {format_duration(cfg.sla_delta)}.")],
    )
