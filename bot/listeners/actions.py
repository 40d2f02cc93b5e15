"""Button clicks: each listener acks, parses the button's value, and hands off to the release flow.

Approve / Reject / Approve with comment, Re-run gates, Retry Canary, Roll back, Extend observation,
Accept a finding. Modals that need the click's trigger_id are opened before handing off (it
expires in 3 seconds); everything else runs as a background task after the ack.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.listeners.common import MALFORMED, Caller, Reply, button_value
from bot.release import owner_commands
from bot.release.flow import Lifecycle
from bot.release.observation import extend_observation
from bot.slack.blocks.gates import open_findings
from bot.slack.blocks.modals import accept_finding_modal, decision_modal
from bot.slack.blocks.text import esc
from gates.acceptance import finding_key
from gates.phases import DecisionKind, Event, Phase
from gates.result import Finding, GateResult

NO_REQUEST = "This approval request no longer exists."


def register_actions(app: AsyncApp, lc: Lifecycle) -> None:
    slack = lc.slack

    @app.action("approve")
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        caller, rid = Caller.of_action(slack, body), button_value(body, "request")
        if rid is None:
            await caller.reply(MALFORMED)
            return
        lc.spawn(
            lc.decide(rid, caller.user, DecisionKind.APPROVE, None, caller.reply),
            "decide:approve",
            request=rid,
            actor=caller.user,
        )

    async def open_decision_modal(body: dict[str, Any], decision: DecisionKind) -> None:
        caller, rid = Caller.of_action(slack, body), button_value(body, "request")
        request = await lc.store.approval_request(rid) if rid is not None else None
        release = await lc.store.release(request.release_id) if request else None
        if request is None or release is None:
            await caller.reply(NO_REQUEST)
            return
        view = decision_modal(
            decision=decision,
            request_id=request.id or 0,
            release_name=release.name,
            phase_label=Phase(request.phase).label,
            channel=caller.channel,
            message_ts=request.message_ts,
        )
        await slack.open_view(body["trigger_id"], view)

    @app.action("reject")
    async def reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        # The modal must open while the trigger_id is fresh (3 s), so this one is not spawned.
        await open_decision_modal(body, DecisionKind.REJECT)

    @app.action("approve_with_comment")
    async def approve_with_comment(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await open_decision_modal(body, DecisionKind.APPROVE)

    @app.action("rerun")
    async def rerun(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        caller, rid = Caller.of_action(slack, body), button_value(body, "request")
        if rid is None:
            await caller.reply(MALFORMED)
            return
        lc.spawn(owner_commands.rerun(lc, rid, caller.user, caller.reply), "rerun", request=rid, actor=caller.user)

    @app.action("retry_canary")
    async def retry_canary(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        caller, release_id = Caller.of_action(slack, body), button_value(body, "release")
        if release_id is None:
            await caller.reply(MALFORMED)
            return
        lc.spawn(owner_commands.retry_canary(lc, release_id, caller.user, caller.reply), "retry_canary")

    @app.action("rollback")
    async def rollback(ack: AsyncAck, body: dict[str, Any]) -> None:
        # The confirmation dialog already ran in the client; this click is the confirmed one.
        await ack()
        caller = Caller.of_action(slack, body)
        rid, release_id = button_value(body, "request"), button_value(body, "release")
        if rid is None and release_id is None:
            await caller.reply(MALFORMED)
            return
        lc.spawn(_rollback_from_button(lc, rid, caller.user, caller.reply, release_id=release_id), "rollback:button")

    @app.action("extend_observation")
    async def extend_observation_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        caller = Caller.of_action(slack, body)
        release_id, run_id = button_value(body, "release"), button_value(body, "run")
        if release_id is None or run_id is None:
            await caller.reply(MALFORMED)
            return
        lc.spawn(extend_observation(lc, release_id, run_id, caller.user, caller.reply), "observe:extend")

    @app.action("accept_finding")
    async def accept_finding_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        caller, rid = Caller.of_action(slack, body), button_value(body, "request")
        request = await lc.store.approval_request(rid) if rid is not None else None
        release = await lc.store.release(request.release_id) if request else None
        if request is None or release is None or request.id is None:
            await caller.reply(NO_REQUEST)
            return
        choices = [
            (finding_key(f), _finding_label(f))
            for f in open_findings([GateResult.from_dict(d) for d in request.gate_snapshot])
        ]
        if not choices:
            await caller.reply("There is no open finding left to accept.")
            return
        view = accept_finding_modal(
            request_id=request.id, release_name=release.name, channel=caller.channel, findings=choices
        )
        await slack.open_view(body["trigger_id"], view)


def _finding_label(f: Finding) -> str:
    return f"{f.severity} · {f.image_id or 'release'} · {f.rule}"[:75]


async def _rollback_from_button(
    lc: Lifecycle, request_id: int | None, user: str, reply: Reply, *, release_id: int | None = None
) -> None:
    request = await lc.store.approval_request(request_id) if request_id is not None else None
    if request is not None:
        release_id = request.release_id
    release = await lc.store.release(release_id) if release_id is not None else None
    if release is None:
        await reply("This release no longer exists; nothing changed.")
        return
    # An old message must never roll back a newer attempt that reuses the name.
    active = await lc.store.active_release(release.name)
    if active is None or active.id != release.id:
        await reply(
            f"This message belongs to an attempt of *{esc(release.name)}* that has ended; nothing changed. "
            f"See `/release status {release.name}`."
        )
        return
    await owner_commands.owner_command(lc, release.name, Event.ROLLBACK, user, "Rollback button", reply)
