"""The one place the bot calls the Slack Web API. Retries 429 (honouring Retry-After), 5xx and
dropped connections through slack_sdk's own retry handlers."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]


def make_client(token: str, base_url: str, *, retries: int = 4) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=base_url, timeout=15)
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=retries),
        AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
        AsyncServerErrorRetryHandler(max_retry_count=retries),
    ]
    return client


class Slack:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None) -> str:
        resp = await self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
        )
        return str(resp["ts"])

    async def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])

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
        return [str(u) for u in resp.get("users", [])]

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            resp = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError:
            return None
        return str(resp.get("permalink")) if resp.get("permalink") else None

    async def dm(self, user: str, text: str, blocks: Blocks | None = None) -> tuple[str, str]:
        opened = await self.client.conversations_open(users=user)
        channel = str(opened["channel"]["id"])
        return channel, await self.post(channel, text, blocks)

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str) -> None:
        await self.client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, filename=filename, content=content, title=title
        )
