"""What owners type or click besides Approve and Reject: pause, resume, rollback, re-run, retry Canary.

Each is authorised against the current phase's owners (refusals are audited), checked against the
phase state machine, and recorded with a compare-and-set, so two owners acting at once change the
release once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.release.flow import Lifecycle, state_change, thread_note
from bot.release.integrity import drift, drift_text
from bot.release.views import release_policy, snapshot
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc
from gates.phases import Event, Phase, Refused, State, apply
from storage.models import Release
from storage.repo import AlreadyActive, AuditNote


async def rerun(lc: Lifecycle, request_id: int, user: str, reply: Callable[[str], Awaitable[None]]) -> None:
    request = await lc.store.approval_request(request_id)
    release = await lc.store.release(request.release_id) if request else None
    if request is None or release is None:
        await reply("This request no longer exists.")
        return
    if not await lc.owner_or_refuse(
        release,
        Phase(release.phase),
        user,
        "gates.rerun",
        "re-run the gates",
        reply,
        label="phase",
        name_owners=False,
        requester_too=True,
    ):
        return
    await transition(lc, release, Event.RERUN, user, reply, reason=None)


async def owner_command(
    lc: Lifecycle, name: str, event: Event, user: str, reason: str | None, reply: Callable[[str], Awaitable[None]]
) -> None:
    release = await lc.store.active_release(name) or await lc.store.latest_release(name)
    if release is None:
        await reply(f"No release named *{esc(name)}*. See `/release list`.")
        return
    if not await lc.owner_or_refuse(
        release, Phase(release.phase), user, f"release.{event.value}", f"{event.value} *{esc(name)}*", reply
    ):
        return
    await transition(lc, release, event, user, reply, reason)


async def transition(
    lc: Lifecycle,
    release: Release,
    event: Event,
    user: str,
    reply: Callable[[str], Awaitable[None]],
    reason: str | None,
) -> None:
    t = apply(snapshot(release), event)
    if isinstance(t, Refused):
        await reply(f"Cannot {event.value} *{esc(release.name)}*: {t.reason}.")
        return
    if event in (Event.RESUME, Event.RERUN) and release.phase != Phase.PREVIEW.value:
        d = await drift(release)
        if d is not None:
            await lc.store.audit(
                AuditNote(user, f"release.{event.value}", "refused", {"why": "bundle changed", **d.to_detail()}),
                lc.clock(),
                release,
            )
            await reply(
                f"Cannot {event.value} *{esc(release.name)}*: {d.headline(release)}.\n" + drift_text(release, d)
            )
            return
    rolled_back = t.after.state is State.ROLLED_BACK
    now = lc.clock()
    words = {
        Event.PAUSE: "⏸️ Paused",
        Event.RESUME: "▶️ Resumed",
        Event.RERUN: "🔁 Gates re-run requested",
        Event.ROLLBACK: "↩️ Rolled back",
    }.get(event, event.value)
    why = f" — {esc(reason)}" if reason else ""
    text, blocks = f"{release.name} {words}", [release_blocks.section(f"{words} by <@{user}>{why}")]
    key = f"release:{release.id}:{event.value}:{int(now.timestamp() * 1000)}"
    note = lc.rollback_note(release, [], reason, user) if rolled_back else thread_note(release, key, text, blocks)
    resumes_request = event is Event.RESUME and t.after.state is State.AWAITING
    done = await lc.store.transition(
        release.id or 0,
        state_change(t),
        AuditNote(user, f"release.{event.value}", "ok", {"reason": reason}),
        now,
        start_run=event is Event.RERUN,
        finish_run_as="rolled_back" if rolled_back else ("superseded" if event is Event.RERUN else None),
        traffic_percent=0.0 if rolled_back else None,
        owed=[note] if note else [],
        sla_due=now + release_policy(release).phase(Phase(release.phase)).sla_delta if resumes_request else None,
    )
    if done is None:
        await reply(f"*{esc(release.name)}* changed meanwhile; nothing done. Check `/release status {release.name}`.")
        return
    fresh, run = done
    if rolled_back:
        await lc.zero_traffic(fresh, f"rollback by {user}", actor=user)
        await lc.announce_rollback(fresh, [], reason=reason, by=user, owed=note is not None)
    elif note:
        lc.outbox_kick()
    else:
        await lc.thread(fresh, text, blocks)
    await lc.changed(fresh)
    if run is not None:
        lc.spawn(lc.run_gates(fresh.id or 0, run.id or 0), f"gates:{fresh.name}:rerun", release=fresh.name, actor=user)
    elif event is Event.RESUME and fresh.state == State.RUNNING.value:
        current = await lc.store.current_run(fresh.id or 0)
        if current is not None:
            lc.spawn(
                lc.run_gates(fresh.id or 0, current.id or 0),
                f"gates:{fresh.name}:resume",
                release=fresh.name,
                actor=user,
            )


async def retry_canary(lc: Lifecycle, release_id: int, user: str, reply: Callable[[str], Awaitable[None]]) -> None:
    """A new attempt that starts at Canary: the Preview approval of the rolled-back attempt stands."""
    old = await lc.store.release(release_id)
    if old is None:
        await reply("That release no longer exists.")
        return
    if not await lc.owner_or_refuse(old, Phase.CANARY, user, "release.retry_canary", "retry it", reply):
        return
    if old.state != State.ROLLED_BACK.value or old.phase != Phase.CANARY.value:
        await reply(f"Only a rolled-back Canary can be retried; *{esc(old.name)}* is {old.phase} {old.state}.")
        return
    latest = await lc.store.latest_release(old.name)
    if latest is not None and latest.id != old.id:
        await reply(f"*{esc(old.name)}* was already started again (attempt {latest.attempt}).")
        return
    d = await drift(old)
    if d is not None:
        # The retry would ship bytes no Preview gate and no reviewer saw: refuse, move nothing.
        await lc.store.audit(
            AuditNote(user, "release.retry_canary", "refused", {"why": "bundle changed", **d.to_detail()}),
            lc.clock(),
            old,
        )
        await lc.thread(old, f"{old.name}: Canary retry refused", [release_blocks.section(drift_text(old, d))])
        await reply(f"Cannot retry the Canary of *{esc(old.name)}*: {d.headline(old)}.")
        return
    try:
        release, run = await lc.store.create_release(
            # The requester stays the person who asked for the release; who retried is the entry's actor.
            actor=user,
            bundle_digest=old.bundle_digest,
            bundle_manifest=old.bundle_manifest,
            name=old.name,
            title=old.title,
            channel_id=old.channel_id,
            requested_by=old.requested_by,
            bundle_dir=old.bundle_dir,
            bundle=old.bundle,
            policy=old.policy,
            phase=Phase.CANARY.value,
            state=State.RUNNING.value,
            now=lc.clock(),
            retry_of=old.id,
        )
    except AlreadyActive:
        await reply(f"*{esc(old.name)}* is already in progress again.")
        return
    if old.root_ts:
        await lc.store.set_root_ts(release.id or 0, old.root_ts)
        release.root_ts = old.root_ts
    await lc.thread(
        release,
        f"{release.name} Canary retried",
        [
            release_blocks.section(
                f"🔁 *Canary retried* by <@{user}> (attempt {release.attempt}); the Preview approval of attempt "
                f"{old.attempt} stands."
            )
        ],
    )
    await lc.changed(release)
    await lc.begin_phase(release, run)


# -- escalation (durable timers) -----------------------------------------------------
