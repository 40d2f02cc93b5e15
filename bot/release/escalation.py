"""Escalation: the SLA ran out without a decision — DM the backups; after a second SLA, pause.

Both run from durable timers (at least once), so each re-checks its target and changes it with a
compare-and-set before telling anyone.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.release.flow import BOT, Lifecycle, state_change
from bot.release.views import release_policy, snapshot
from bot.slack.blocks import gates as gate_blocks
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc
from gates.durations import format_duration
from gates.phases import Event, Phase, Refused, RequestState, State, apply
from gates.result import GateResult
from storage.models import Timer
from storage.repo import SLA_PAUSE, AuditNote, Owed


async def members(lc: Lifecycle, ids: Sequence[str], exclude: set[str]) -> list[str]:
    """User IDs behind owner entries; user groups are resolved now, not when the policy was read."""
    out: list[str] = []
    for ident in ids:
        found = [ident]
        if ident.startswith("S"):
            found = await lc.safe(f"resolving user group {ident}", lc.slack.usergroup_members(ident)) or []
        for m in found:
            if m not in exclude and m not in out:
                out.append(m)
    return out


async def on_sla_escalate(lc: Lifecycle, timer: Timer) -> None:
    """First SLA passed without a decision: DM the backups with the same buttons."""
    request = await lc.store.approval_request(timer.target_id)
    if request is None or request.state != RequestState.AWAITING or request.escalation_level != 0 or request.id is None:
        return
    release = await lc.store.release(request.release_id)
    if release is None or release.state != State.AWAITING.value:
        return  # paused or moved on; a resume restarts the clock
    policy = release_policy(release)
    phase = Phase(request.phase)
    cfg = policy.phase(phase)
    # Four-eyes: the requester is never asked to approve their own release.
    backups = await members(lc, cfg.owners.backup, exclude={release.requested_by})
    now = lc.clock()
    link = await lc.slack.permalink(release.channel_id, release.root_ts) if release.root_ts else None
    blocks = gate_blocks.results_blocks(
        release_name=release.name,
        phase=phase,
        results=[GateResult.from_dict(d) for d in request.gate_snapshot],
        owners=cfg.owners.backup,
        request_id=request.id,
        run_id=request.phase_run_id,
        sla_text=format_duration(cfg.sla_delta),
    )
    intro = release_blocks.section(
        f"⏰ *{esc(release.name)}* has waited {format_duration(cfg.sla_delta)} for a {phase.label} decision "
        f"from {release_blocks.mentions(cfg.owners.primary)}. You are a backup approver."
        + (f" <{link}|Open the thread>" if link else "")
    )
    who = release_blocks.mentions(backups) if backups else "nobody (no backup approver besides the requester)"
    # The DMs and the thread note are owed in the escalation's own transaction: a crash after it
    # still delivers them, and a timer that fires twice cannot send them twice.
    # Keyed by this timer too: after a resume the same request can escalate again, and those DMs are new.
    round_ = f"request:{request.id}:t{timer.id}"
    dms = [{"key": f"{round_}:dm:{user}", "user": user} for user in backups]
    owed = [
        Owed(
            dm["key"],
            "chat.postMessage",
            {
                "channel": dm["user"],
                "text": f"{release.name}: {phase.label} needs a decision",
                "blocks": [intro, *blocks],
            },
        )
        for dm in dms
    ]
    if release.root_ts:
        owed.append(
            Owed(
                f"{round_}:escalated",
                "chat.postMessage",
                {
                    "channel": release.channel_id,
                    "thread_ts": release.root_ts,
                    "text": f"{release.name}: escalated",
                    "blocks": [
                        release_blocks.section(
                            f"⏰ No {phase.label} decision within {format_duration(cfg.sla_delta)}: escalated to {who}."
                        )
                    ],
                },
            )
        )
    done = await lc.store.escalate(
        request.id,
        from_level=0,
        to_level=1,
        now=now,
        next_timer=(SLA_PAUSE, now + cfg.sla_delta),
        note=AuditNote(BOT, "sla.escalate", "ok", {"request": request.id, "backups": backups, "sla": cfg.sla}),
        owed=owed,
        dm_messages=dms,
    )
    if done is not None:
        lc.outbox_kick()


async def on_sla_pause(lc: Lifecycle, timer: Timer) -> None:
    """Second SLA passed: pause the rollout (Canary holds its traffic) and tell every owner."""
    request = await lc.store.approval_request(timer.target_id)
    if request is None or request.state != RequestState.AWAITING or request.escalation_level != 1 or request.id is None:
        return
    release = await lc.store.release(request.release_id)
    if release is None:
        return
    t = apply(snapshot(release), Event.PAUSE)
    if isinstance(t, Refused) or t.before.state is not State.AWAITING:
        return
    policy = release_policy(release)
    phase = Phase(request.phase)
    cfg = policy.phase(phase)
    done = await lc.store.escalate(
        request.id,
        from_level=1,
        to_level=2,
        now=lc.clock(),
        next_timer=None,
        change=state_change(t),
        note=AuditNote(BOT, "sla.pause", "ok", {"request": request.id, "why": "no decision after two SLAs"}),
    )
    if done is None:
        return
    _, fresh = done
    owners = await members(lc, [*cfg.owners.primary, *cfg.owners.backup], exclude=set())
    await lc.thread(
        fresh,
        f"{release.name} paused",
        [
            release_blocks.section(
                f"⏸️ *Paused*: no {phase.label} decision after 2 × {format_duration(cfg.sla_delta)}. "
                f"Traffic holds at {fresh.traffic_percent:g}%. {release_blocks.mentions(owners)}: "
                f"`/release resume {release.name}` restarts the clock."
            )
        ],
    )
    for user in owners:
        await lc.safe(
            f"notifying owner {user}",
            lc.slack.dm(
                user,
                f"⏸️ {release.name} is paused: no {phase.label} decision after 2 × "
                f"{format_duration(cfg.sla_delta)}. `/release resume {release.name}` restarts the clock.",
            ),
        )
    await lc.changed(fresh)
