"""The seam between the release flow and Slack: what the flow needs to tell people, nothing more.

``bot.slack.client.Slack`` is the implementation (messages through the persisted outbox); the
tests' fakes and the drill's timing wrapper are others. Written as a Protocol so that anything with
these methods fits, the way Flagger's notifiers are one small interface with one file per kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.slack.outbox import OutboxSender

Blocks = list[dict[str, Any]]


class Notifier(Protocol):
    # The outbox the messages go through, when there is one (recovery and the drill read it).
    outbox: OutboxSender | None

    async def post(
        self,
        channel: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
        *,
        key: str | None = None,
    ) -> str: ...

    async def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None: ...

    async def ephemeral(self, channel: str, user: str, text: str, blocks: Blocks | None = None) -> None: ...

    async def dm(
        self, user: str, text: str, blocks: Blocks | None = None, *, secret: bool = False
    ) -> tuple[str, str]: ...

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: bytes, title: str) -> None: ...

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None: ...

    async def usergroup_members(self, group_id: str) -> list[str]: ...

    async def permalink(self, channel: str, ts: str, *, timeout: float = 1.0) -> str | None: ...
