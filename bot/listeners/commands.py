"""``/release …``: usage problems and help are answered in the ack itself; everything else acks
empty and runs after it (start, list, status, pause, resume, rollback, inspector, drill)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.drill.drill import drill_command, drill_history_command
from bot.http.inspector.auth import make_login_link
from bot.listeners.common import Caller
from bot.listeners.limits import CommandLimits
from bot.listeners.parse import Command, UsageProblem, parse
from bot.release import owner_commands
from bot.release.flow import Lifecycle
from bot.release.views import decision_view, release_view
from bot.slack.access import may_audit, may_start
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc
from gates.phases import TERMINAL_VALUES, Event

INSPECTOR_LINK_TTL = timedelta(minutes=10)
OWNER_EVENTS = {"pause": Event.PAUSE, "resume": Event.RESUME, "rollback": Event.ROLLBACK}


def register_commands(app: AsyncApp, lc: Lifecycle, limits: CommandLimits | None = None) -> None:
    if limits is None:
        s = lc.settings
        limits = (
            CommandLimits.per_minute(s.commands_per_user, s.commands_per_channel) if s is not None else CommandLimits()
        )

    @app.command("/release")
    async def release_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        parsed = parse(command.get("text") or "")
        if parsed != Command("help") and (too_many := limits.refusal(command["user_id"], command["channel_id"])):
            await ack(text=too_many)
            return
        if isinstance(parsed, UsageProblem):
            await ack(blocks=release_blocks.usage_blocks(parsed.message), text=parsed.message)
            return
        if parsed.verb == "help":
            await ack(blocks=release_blocks.usage_blocks(), text="releasegate usage")
            return
        await ack()
        caller = Caller(command["channel_id"], command["user_id"], lc.slack)
        lc.spawn(_run_command(lc, parsed, caller), f"command:{parsed.verb}", release=parsed.name, actor=caller.user)


async def _run_command(lc: Lifecycle, cmd: Command, caller: Caller) -> None:
    if cmd.verb == "start":
        assert cmd.name
        if await may_start(lc.slack, lc.store, lc.policy, caller.user, cmd.name, lc.clock(), caller.reply):
            await lc.start(cmd.name, caller.channel, caller.user)
    elif cmd.verb == "list":
        views = [release_view(r) for r in await lc.store.list_releases(limit=20)]
        await lc.slack.ephemeral(caller.channel, caller.user, "Recent releases", release_blocks.list_blocks(views))
    elif cmd.verb == "status":
        await _status(lc, cmd.name, caller)
    elif cmd.verb in OWNER_EVENTS:
        assert cmd.name
        await owner_commands.owner_command(lc, cmd.name, OWNER_EVENTS[cmd.verb], caller.user, cmd.reason, caller.reply)
    elif cmd.verb == "inspector":
        await _inspector_link(lc, caller)
    elif cmd.verb == "drill":
        await drill_command(lc, caller.channel, caller.user, caller.reply)
    elif cmd.verb == "drill_history":
        await drill_history_command(lc, caller.channel, caller.user)


async def _inspector_link(lc: Lifecycle, caller: Caller) -> None:
    """A signed, expiring, one-time login link to the Audit Inspector, sent privately by DM."""
    if lc.settings is None or not lc.settings.session_secret:
        await caller.reply("The Audit Inspector is not enabled here (an admin sets RELEASEGATE_SESSION_SECRET).")
        return
    if not await may_audit(lc.slack, lc.store, lc.policy, caller.user, lc.clock(), caller.reply):
        return
    link = make_login_link(lc.settings, caller.user, INSPECTOR_LINK_TTL)
    await lc.slack.dm(
        caller.user,
        f"🔎 Your Audit Inspector link (works once, within {INSPECTOR_LINK_TTL.seconds // 60} minutes, "
        f"for you only): <{link}|open the inspector>",
        secret=True,
    )
    await caller.reply("I sent you a sign-in link for the Audit Inspector by DM.")


async def _status(lc: Lifecycle, name: str | None, caller: Caller) -> None:
    slack, channel, user = lc.slack, caller.channel, caller.user
    if name is None:
        active = [r for r in await lc.store.list_releases(limit=50) if r.state not in TERMINAL_VALUES]
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
