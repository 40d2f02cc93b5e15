"""The one place the bot calls the Slack Web API.

Messages (posts, edits, DMs) go through the persisted outbox when one is attached: each is
written to the database first and delivered by ``bot.slack.outbox`` (backoff on 429 with
Retry-After, 5xx, timeouts and dropped connections; a check before re-posting so a lost reply
does not duplicate a message; rows left by a crash are sent after restart). Reads, modals,
ephemerals and uploads call Slack directly, with slack_sdk's retry handlers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.notifier import Blocks

if TYPE_CHECKING:
    from bot.slack.outbox import OutboxSender
    from storage.models import OutboxMessage

log = logging.getLogger(__name__)


def make_client(token: str, base_url: str, *, retries: int = 4) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=base_url, timeout=15)
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=retries),
        AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
        AsyncServerErrorRetryHandler(max_retry_count=retries),
    ]
    return client


class Slack:
    """The Notifier (bot/slack/notifier.py) that talks to Slack."""

    def __init__(self, client: AsyncWebClient, outbox: OutboxSender | None = None, *, send_timeout: float = 60) -> None:
        self.client = client
        self.outbox = outbox
        self.send_timeout = send_timeout

    async def _owe(self, method: str, args: dict[str, Any], key: str | None = None) -> OutboxMessage:
        """Enqueue and wait until sent. With a ``key`` naming the fact, owing it again (e.g. on
        recovery after a crash) returns the message already sent instead of posting a second one."""
        assert self.outbox is not None
        # A bot built without start() (a one-off CLI run) still gets its messages delivered.
        await self.outbox.start()
        key = key or f"{method}:{uuid.uuid4().hex}"
        await self.outbox.store.enqueue(key, method, {k: v for k, v in args.items() if v is not None})
        self.outbox.kick()
        return await self.outbox.wait_sent(key, timeout=self.send_timeout)

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        *,
        key: str | None = None,
    ) -> str:
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "thread_ts": thread_ts,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if self.outbox is not None:
            return str((await self._owe("chat.postMessage", args, key)).result_ts)
        resp = await self.client.chat_postMessage(**args)
        return str(resp["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text, "blocks": blocks or []}
        if self.outbox is not None:
            await self._owe("chat.update", args)
            return
        await self.client.chat_update(**args)

    async def ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None) -> None:
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        except SlackApiError as exc:
            # An ephemeral that cannot be shown (user left the channel) is not worth failing for.
            log.warning("ephemeral to %s in %s failed: %s", user, channel, exc.response.get("error"))

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self.client.views_open(trigger_id=trigger_id, view=view)

    async def usergroup_members(self, group_id: str) -> list[str]:
        resp = await self.client.usergroups_users_list(usergroup=group_id)
        users: list[Any] = resp.get("users", [])
        return [str(u) for u in users]

    async def permalink(self, channel: str, ts: str, *, timeout: float = 1.0) -> str | None:
        """Best effort and quick: a decision is never held up because Slack is slow or down."""
        try:
            resp = await asyncio.wait_for(self.client.chat_getPermalink(channel=channel, message_ts=ts), timeout)
        except (SlackApiError, TimeoutError, OSError):
            return None
        return str(resp.get("permalink")) if resp.get("permalink") else None

    async def dm(self, user: str, text: str, blocks: Blocks | None = None, *, secret: bool = False) -> tuple[str, str]:
        """``secret``: the text holds a credential (a sign-in link), so it goes straight to Slack and
        never into the outbox table, where anyone who reads the database could use it first."""
        if self.outbox is not None and not secret:
            # The sender opens the DM itself when the channel is a user id.
            row = await self._owe("chat.postMessage", {"channel": user, "text": text, "blocks": blocks})
            return str(row.result_channel), str(row.result_ts)
        opened = await self.client.conversations_open(users=user)
        channel = str(opened["channel"]["id"])
        resp = await self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return channel, str(resp["ts"])

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str) -> None:
        await self.client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, filename=filename, content=content, title=title
        )
