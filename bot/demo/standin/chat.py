"""chat.postMessage, chat.update, chat.postEphemeral and chat.getPermalink."""

from __future__ import annotations

from typing import Any

from bot.demo.standin.content import edit_of, message_content
from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError, flag, json_field
from bot.demo.standin.state import Ephemeral, Message

__all__ = ["get_permalink", "post_ephemeral", "post_message", "update"]


def post_message(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    channel = ctx.channel(args.get("channel"))
    text, blocks, attachments = message_content(args)
    metadata = json_field(args, "metadata", "invalid_metadata_format")
    thread_ts = args.get("thread_ts") or None
    msg = Message(
        channel=channel.id,
        ts=state.new_ts(),
        text=text or "",
        blocks=blocks,
        attachments=attachments,
        thread_ts=str(thread_ts) if thread_ts else None,
        user=state.bot_user_id,
        bot_id=state.bot_id,
        username=args.get("username"),
        reply_broadcast=flag(args.get("reply_broadcast")),
        metadata=metadata if isinstance(metadata, dict) else None,
    )
    channel.messages.append(msg)
    out = ctx.spec_example("chat.postMessage")
    out.update(channel=channel.id, ts=msg.ts, message=msg.to_api(state.team_id, state.app_id))
    return out


def update(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    channel = ctx.existing_channel(args.get("channel"))
    msg = state.find_message(channel.id, str(args.get("ts")))
    if msg is None:
        raise SlackError("message_not_found")
    if msg.bot_id != state.bot_id:
        raise SlackError("cant_update_message")
    text, blocks, attachments = message_content(args, required=False)
    if not text and blocks is None and attachments is None and not args.get("file_ids"):
        raise SlackError("no_text")
    msg.edits.append(edit_of(msg))
    if "text" in args or "markdown_text" in args:
        msg.text = text or ""
    if blocks is not None:
        msg.blocks = blocks
    if attachments is not None:
        msg.attachments = attachments
    out = ctx.spec_example("chat.update")
    out.update(
        channel=channel.id,
        ts=msg.ts,
        text=msg.text,
        message=msg.to_api(state.team_id, state.app_id),
    )
    return out


def post_ephemeral(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    channel = ctx.channel(args.get("channel"))
    user = str(args.get("user"))
    if not state.user_known(user):
        raise SlackError("user_not_in_channel")
    text, blocks, attachments = message_content(args)
    thread_ts = args.get("thread_ts") or None
    eph = Ephemeral(
        channel=channel.id,
        user=user,
        message_ts=state.new_ts(),
        text=text or "",
        blocks=blocks,
        attachments=attachments,
        thread_ts=str(thread_ts) if thread_ts else None,
    )
    state.ephemeral_messages.append(eph)
    out = ctx.spec_example("chat.postEphemeral")
    out["message_ts"] = eph.message_ts
    return out


def get_permalink(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    channel = ctx.existing_channel(args.get("channel"))
    msg = ctx.state.find_message(channel.id, str(args.get("message_ts")))
    if msg is None:
        raise SlackError("message_not_found")
    link = f"{ctx.state.workspace_url}archives/{channel.id}/p{msg.ts.replace('.', '')}"
    if msg.is_reply:
        link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
    out = ctx.spec_example("chat.getPermalink")
    out.update(channel=channel.id, permalink=link)
    return out
