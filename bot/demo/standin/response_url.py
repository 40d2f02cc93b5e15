"""response_url: the URLs slash commands and interactions carry, and what posting to one does."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from aiohttp import web

from bot.demo.standin.calls import maybe_fail, text_answer
from bot.demo.standin.content import edit_of, message_content
from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError, flag
from bot.demo.standin.state import CallRecord, Ephemeral, Message, ResponseUrlRecord

__all__ = ["RESPONSE_URL", "new", "post"]

# response_url posts are not Web API methods; faults and the call log know them by this name.
RESPONSE_URL = "response_url"
# Slack lets an app use one response_url five times.
_RESPONSE_URL_USES = 5


def new(ctx: Context, channel: str, user: str, *, message_ts: str | None = None) -> str:
    channel_id = ctx.state.channel_id(channel) or channel
    record = ResponseUrlRecord(id=secrets.token_hex(8), channel=channel_id, user=user, message_ts=message_ts)
    ctx.state.response_urls[record.id] = record
    return f"{ctx.root_url}respond/{record.id}"


async def post(ctx: Context, request: web.Request) -> web.StreamResponse:
    """POST /respond/{response_id}: answered in plain text, as Slack does."""
    record = CallRecord(method=RESPONSE_URL, args={}, response=None, status=0, at=time.time())
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    record.args = body if isinstance(body, dict) else {}
    failure = await maybe_fail(ctx, request, record, RESPONSE_URL)
    if failure is not None:
        return failure
    target = ctx.state.response_urls.get(request.match_info["response_id"])
    try:
        if target is None:
            raise SlackError("expired_url")
        if target.uses >= _RESPONSE_URL_USES:
            raise SlackError("used_url")
        if not isinstance(body, dict):
            raise SlackError("invalid_payload")
        _respond(ctx, target, body)
        target.uses += 1
    except SlackError as exc:
        status = 404 if exc.error in ("expired_url", "used_url", "message_not_found") else 400
        return text_answer(ctx, record, status, exc.error, exc.messages)
    return text_answer(ctx, record, 200, "ok")


def _respond(ctx: Context, target: ResponseUrlRecord, body: dict[str, Any]) -> None:
    """Apply a response_url post the way Slack does: delete, replace, or post anew."""
    state = ctx.state
    original = state.find_message(target.channel, target.message_ts) if target.message_ts else None
    if flag(body.get("delete_original")):
        if original is None:
            raise SlackError("message_not_found")
        state.channels[target.channel].messages.remove(original)
        return
    text, blocks, attachments = message_content(body)
    if flag(body.get("replace_original")) and original is not None:
        original.edits.append(edit_of(original))
        original.text = text or ""
        original.blocks = blocks
        original.attachments = attachments
        return
    thread_ts = str(body["thread_ts"]) if body.get("thread_ts") else None
    if body.get("response_type") == "in_channel":
        channel = ctx.channel(target.channel)
        channel.messages.append(
            Message(
                channel=channel.id,
                ts=state.new_ts(),
                text=text or "",
                blocks=blocks,
                attachments=attachments,
                thread_ts=thread_ts,
                user=state.bot_user_id,
                bot_id=state.bot_id,
            )
        )
        return
    state.ephemeral_messages.append(
        Ephemeral(
            channel=target.channel,
            user=target.user,
            message_ts=state.new_ts(),
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
        )
    )
