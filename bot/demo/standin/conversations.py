"""conversations.open, conversations.history and conversations.replies."""

from __future__ import annotations

import json
import time
from typing import Any

from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError, flag
from bot.demo.standin.schemas import MethodSpec
from bot.demo.standin.state import Channel, Message

__all__ = ["HISTORY_SPECS", "history", "open", "replies"]

# conversations.history and conversations.replies are not in the shared reference, so their facts are
# written here by hand, minimal: the arguments the outbox sender uses to look for a message it may
# already have posted. The cursor is an opaque offset, as far as callers can tell.
_PAGE_ARGS = ("token", "channel", "cursor", "include_all_metadata", "inclusive", "latest", "limit", "oldest")
HISTORY_SPECS: dict[str, MethodSpec] = {
    "conversations.history": MethodSpec(
        name="conversations.history",
        http_method="GET",
        required=("token", "channel"),
        args=_PAGE_ARGS,
        errors=("channel_not_found", "invalid_cursor", "not_in_channel"),
    ),
    "conversations.replies": MethodSpec(
        name="conversations.replies",
        http_method="GET",
        required=("token", "channel", "ts"),
        args=(*_PAGE_ARGS, "ts"),
        errors=("channel_not_found", "invalid_cursor", "thread_not_found"),
    ),
}


def open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    raw = args.get("users")
    users = [u.strip() for u in raw.split(",") if u.strip()] if isinstance(raw, str) else list(raw or [])
    if not users:
        if args.get("channel"):
            return {"ok": True, "channel": {"id": ctx.existing_channel(args["channel"]).id}}
        raise SlackError("users_list_not_supplied")
    if len(users) > 8:
        raise SlackError("too_many_users")
    for user in users:
        if not state.user_known(user):
            raise SlackError("user_not_found")
    if len(users) == 1:
        already = state.dm_channel(users[0]) is not None
        cid = state.open_dm(users[0])
    else:
        name = "mpdm-" + "--".join(sorted(users)) + "-1"
        existing = state.channel_id(name)
        already = existing is not None
        cid = existing or state.new_id("G")
        if not already:
            state.channels[cid] = Channel(id=cid, name=name)
    if not flag(args.get("return_im")):
        out = ctx.spec_example("conversations.open")
        out["channel"] = {"id": cid}
        return out
    rich: dict[str, Any] = json.loads(json.dumps(ctx.specs["conversations.open"].examples["success_with_return_im"]))
    if not already:
        rich.pop("no_op", None)
        rich.pop("already_open", None)
    rich["channel"].update(id=cid, user=users[0], created=int(time.time()))
    return rich


def history(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    channel = ctx.existing_channel(args.get("channel"))
    # Newest first, as Slack answers; thread replies only when broadcast to the channel.
    msgs = list(reversed(ctx.state.messages(channel.id)))
    return _message_page(ctx, msgs, args)


def replies(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    channel = ctx.existing_channel(args.get("channel"))
    parent = ctx.state.find_message(channel.id, str(args.get("ts")))
    if parent is None:
        raise SlackError("thread_not_found")
    thread_ts = parent.thread_ts or parent.ts
    # Oldest first, the parent message always leading the page.
    msgs = ctx.state.replies(channel.id, thread_ts, include_parent=True)
    return _message_page(ctx, msgs, args, keep_first=True)


def _message_page(
    ctx: Context, msgs: list[Message], args: dict[str, Any], *, keep_first: bool = False
) -> dict[str, Any]:
    """Window (oldest/latest/inclusive), cursor and limit over a message list, minimal but Slack-shaped."""
    inclusive = flag(args.get("inclusive"))
    oldest, latest = args.get("oldest"), args.get("latest")

    def inside(m: Message) -> bool:
        t = float(m.ts)
        if oldest not in (None, "") and (t < float(oldest) or (t == float(oldest) and not inclusive)):
            return False
        return not (latest not in (None, "") and (t > float(latest) or (t == float(latest) and not inclusive)))

    head = msgs[:1] if keep_first else []
    window = head + [m for m in msgs[len(head) :] if inside(m)]
    try:
        start = int(str(args.get("cursor") or "0"))
        limit = max(1, min(int(args.get("limit") or 100), 1000))
    except ValueError as exc:
        raise SlackError("invalid_cursor") from exc
    page = window[start : start + limit]
    more = start + limit < len(window)
    with_meta = flag(args.get("include_all_metadata"))
    out_msgs = []
    for m in page:
        api = m.to_api(ctx.state.team_id, ctx.state.app_id)
        if not with_meta:
            api.pop("metadata", None)
        out_msgs.append(api)
    return {
        "ok": True,
        "messages": out_msgs,
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }
