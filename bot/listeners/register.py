"""Wires the Bolt listeners. Each one acks within Slack's 3 seconds, then works in the background."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import owner_commands
from bot.access import may_audit, may_start
from bot.blocks import release as release_blocks
from bot.blocks.gates import open_findings
from bot.blocks.modals import (
    FINDING_ACTION,
    FINDING_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    accept_finding_modal,
    decision_modal,
)
from bot.blocks.text import esc
from bot.drill import drill_command, drill_history_command
from bot.findings import accept_finding
from bot.inspector.auth import make_login_link
from bot.lifecycle import Lifecycle
from bot.listeners.parse import Command, UsageProblem, parse
from bot.observation import extend_observation
from bot.views import decision_view, release_view
from gates.acceptance import finding_key
from gates.phases import Event, Phase
from gates.result import Finding, GateResult

log = logging.getLogger(__name__)

INSPECTOR_LINK_TTL = timedelta(minutes=10)
OWNER_EVENTS = {"pause": Event.PAUSE, "resume": Event.RESUME, "rollback": Event.ROLLBACK}


def _value_int(body: dict[str, Any], key: str) -> int | None:
    try:
        return int(json.loads(body["actions"][0]["value"])[key])
    except (KeyError, IndexError, ValueError, TypeError):
        return None


def _request_id(body: dict[str, Any]) -> int | None:
    try:
        value = json.loads(body["actions"][0]["value"])
        return int(value["request"])
    except (KeyError, IndexError, ValueError, TypeError):
        return None


def register(app: AsyncApp, lc: Lifecycle) -> None:
    slack = lc.slack

    @app.command("/release")
    async def release_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        parsed = parse(command.get("text") or "")
        if isinstance(parsed, UsageProblem):
            await ack(blocks=release_blocks.usage_blocks(parsed.message), text=parsed.message)
            return
        if parsed.verb == "help":
            await ack(blocks=release_blocks.usage_blocks(), text="releasegate usage")
            return
        await ack()
        channel, user = command["channel_id"], command["user_id"]
        lc.spawn(_run_command(lc, parsed, channel, user), f"command:{parsed.verb}")

    @app.action("approve")
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        rid = _request_id(body)
        channel, user = body["channel"]["id"], body["user"]["id"]
        if rid is None:
            await slack.ephemeral(channel, user, "That button is malformed; nothing changed.")
            return

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        lc.spawn(lc.decide(rid, user, "approve", None, reply), "decide:approve")

    async def _open_modal(body: dict[str, Any], decision: str) -> None:
        rid = _request_id(body)
        channel, user = body["channel"]["id"], body["user"]["id"]
        request = await lc.store.approval_request(rid) if rid is not None else None
        release = await lc.store.release(request.release_id) if request else None
        if request is None or release is None:
            await slack.ephemeral(channel, user, "This approval request no longer exists.")
            return
        view = decision_modal(
            decision=decision,
            request_id=request.id or 0,
            release_name=release.name,
            phase_label=Phase(request.phase).label,
            channel=channel,
            message_ts=request.message_ts,
        )
        await slack.open_view(body["trigger_id"], view)

    @app.action("reject")
    async def reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        # The modal must open while the trigger_id is fresh (3 s), so this one is not spawned.
        await _open_modal(body, "reject")

    @app.action("approve_with_comment")
    async def approve_with_comment(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await _open_modal(body, "approve")

    @app.action("rerun")
    async def rerun(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        rid = _request_id(body)
        channel, user = body["channel"]["id"], body["user"]["id"]

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        if rid is None:
            await reply("That button is malformed; nothing changed.")
            return
        lc.spawn(owner_commands.rerun(lc, rid, user, reply), "rerun")

    @app.action("retry_canary")
    async def retry_canary(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        channel, user = body["channel"]["id"], body["user"]["id"]

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        try:
            release_id = int(json.loads(body["actions"][0]["value"])["release"])
        except (KeyError, IndexError, ValueError, TypeError):
            await reply("That button is malformed; nothing changed.")
            return
        lc.spawn(owner_commands.retry_canary(lc, release_id, user, reply), "retry_canary")

    @app.action("rollback")
    async def rollback(ack: AsyncAck, body: dict[str, Any]) -> None:
        # The confirmation dialog already ran in the client; this click is the confirmed one.
        await ack()
        rid = _request_id(body)
        channel, user = body["channel"]["id"], body["user"]["id"]

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        release_id = _value_int(body, "release")
        if rid is None and release_id is None:
            await reply("That button is malformed; nothing changed.")
            return
        lc.spawn(_rollback_from_button(lc, rid, user, reply, release_id=release_id), "rollback:button")

    @app.action("extend_observation")
    async def extend_observation_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        channel, user = body["channel"]["id"], body["user"]["id"]

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        release_id, run_id = _value_int(body, "release"), _value_int(body, "run")
        if release_id is None or run_id is None:
            await reply("That button is malformed; nothing changed.")
            return
        lc.spawn(extend_observation(lc, release_id, run_id, user, reply), "observe:extend")

    @app.action("accept_finding")
    async def accept_finding_clicked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        rid = _request_id(body)
        channel, user = body["channel"]["id"], body["user"]["id"]
        request = await lc.store.approval_request(rid) if rid is not None else None
        release = await lc.store.release(request.release_id) if request else None
        if request is None or release is None or request.id is None:
            await slack.ephemeral(channel, user, "This approval request no longer exists.")
            return
        choices = [
            (finding_key(f), _finding_label(f))
            for f in open_findings([GateResult.from_dict(d) for d in request.gate_snapshot])
        ]
        if not choices:
            await slack.ephemeral(channel, user, "There is no open finding left to accept.")
            return
        view = accept_finding_modal(request_id=request.id, release_name=release.name, channel=channel, findings=choices)
        await slack.open_view(body["trigger_id"], view)

    @app.view("accept_finding_modal")
    async def accept_finding_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        key = (values.get(FINDING_BLOCK, {}).get(FINDING_ACTION, {}).get("selected_option") or {}).get("value")
        reason = (values.get(REASON_BLOCK, {}).get(REASON_ACTION, {}).get("value") or "").strip()
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            rid, channel = int(meta["request"]), str(meta["channel"])
        except (ValueError, KeyError, TypeError):
            await ack(response_action="errors", errors={REASON_BLOCK: "This form is malformed; close it and retry."})
            return
        if not key:
            await ack(response_action="errors", errors={FINDING_BLOCK: "Pick the finding you accept."})
            return
        if len(reason) < 3:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why it is acceptable (3+ characters)."})
            return
        await ack()
        user = body["user"]["id"]

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        lc.spawn(accept_finding(lc, rid, user, str(key), reason, reply), "accept_finding")

    @app.view("decision_modal")
    async def decision_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            rid, decision, channel = int(meta["request"]), str(meta["decision"]), str(meta["channel"])
        except (ValueError, KeyError, TypeError):
            await ack(response_action="errors", errors={REASON_BLOCK: "This form is malformed; close it and retry."})
            return
        if decision not in ("approve", "reject"):
            await ack(response_action="errors", errors={REASON_BLOCK: "Unknown decision."})
            return
        value = (
            view.get("state", {}).get("values", {}).get(REASON_BLOCK, {}).get(REASON_ACTION, {}).get("value") or ""
        ).strip()
        if decision == "reject" and len(value) < 3:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why you reject (at least 3 characters)."})
            return
        await ack()
        user = body["user"]["id"]

        async def reply(text: str) -> None:
            await slack.ephemeral(channel, user, text)

        lc.spawn(lc.decide(rid, user, decision, value or None, reply), f"decide:{decision}")


def _finding_label(f: Finding) -> str:
    return f"{f.severity} · {f.image_id or 'release'} · {f.rule}"[:75]


async def _run_command(lc: Lifecycle, cmd: Command, channel: str, user: str) -> None:
    slack = lc.slack

    async def reply(text: str) -> None:
        await slack.ephemeral(channel, user, text)

    if cmd.verb == "start":
        assert cmd.name
        if await may_start(slack, lc.store, lc.policy, user, cmd.name, lc.clock(), reply):
            await lc.start(cmd.name, channel, user)
    elif cmd.verb == "list":
        views = [release_view(r) for r in await lc.store.list_releases(limit=20)]
        await slack.ephemeral(channel, user, "Recent releases", release_blocks.list_blocks(views))
    elif cmd.verb == "status":
        await _status(lc, cmd.name, channel, user)
    elif cmd.verb in OWNER_EVENTS:
        assert cmd.name
        await owner_commands.owner_command(lc, cmd.name, OWNER_EVENTS[cmd.verb], user, cmd.reason, reply)
    elif cmd.verb == "inspector":
        await _inspector_link(lc, user, reply)
    elif cmd.verb == "drill":
        await drill_command(lc, channel, user, reply)
    elif cmd.verb == "drill_history":
        await drill_history_command(lc, channel, user)


async def _rollback_from_button(
    lc: Lifecycle,
    request_id: int | None,
    user: str,
    reply: Callable[[str], Awaitable[None]],
    *,
    release_id: int | None = None,
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


async def _inspector_link(lc: Lifecycle, user: str, reply: Callable[[str], Awaitable[None]]) -> None:
    """A signed, expiring, one-time login link to the Audit Inspector, sent privately by DM."""
    if lc.settings is None or not lc.settings.session_secret:
        await reply("The Audit Inspector is not enabled here (an admin sets RELEASEGATE_SESSION_SECRET).")
        return
    if not await may_audit(lc.slack, lc.store, lc.policy, user, lc.clock(), reply):
        return
    link = make_login_link(lc.settings, user, INSPECTOR_LINK_TTL)
    await lc.slack.dm(
        user,
        f"🔎 Your Audit Inspector link (works once, within {INSPECTOR_LINK_TTL.seconds // 60} minutes, "
        f"for you only): <{link}|open the inspector>",
    )
    await reply("I sent you a sign-in link for the Audit Inspector by DM.")


async def _status(lc: Lifecycle, name: str | None, channel: str, user: str) -> None:
    slack = lc.slack
    if name is None:
        active = [
            r for r in await lc.store.list_releases(limit=50) if r.state not in ("completed", "rejected", "rolled_back")
        ]
        if not active:
            await slack.ephemeral(channel, user, "No release is in progress. `/release list` shows recent ones.")
            return
        await slack.ephemeral(
            channel, user, "Releases in progress", release_blocks.list_blocks([release_view(r) for r in active])
        )
        return
    release = await lc.store.latest_release(name)
    if release is None:
        await slack.ephemeral(channel, user, f"No release named *{esc(name)}*. See `/release list`.")
        return
    decisions = [decision_view(d) for d in await lc.store.decisions(release.id or 0)]
    link = await slack.permalink(release.channel_id, release.root_ts) if release.root_ts else None
    view = release_view(release)
    await slack.ephemeral(
        channel, user, f"{name}: {view.phase.label}", release_blocks.status_blocks(view, decisions, link)
    )
