"""The read-and-setup shortcuts tests call on the stand-in, each one a pass-through to SlackState."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.demo.standin.blockkit import message_text
from bot.demo.standin.state import CallRecord, Ephemeral, FileRecord, Message, SlackState, ViewRecord

__all__ = ["Inspection"]


class Inspection:
    """Mixed into SlackStandIn so ``standin.messages(...)`` reads as well as ``standin.state.messages(...)``."""

    state: SlackState  # SlackStandIn's

    def add_user(self, user_id: str, name: str, real_name: str | None = None, **fields: Any) -> dict[str, Any]:
        return self.state.add_user(user_id, name, real_name, **fields)

    def add_usergroup(self, usergroup_id: str, members: Iterable[str]) -> None:
        self.state.add_usergroup(usergroup_id, members)

    def add_channel(self, name: str, channel_id: str | None = None) -> str:
        return self.state.add_channel(name, channel_id)

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        return self.state.messages(channel, include_replies=include_replies)

    def replies(self, channel: str, thread_ts: str, *, include_parent: bool = False) -> list[Message]:
        return self.state.replies(channel, thread_ts, include_parent=include_parent)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        return self.state.ephemerals(channel, user)

    def dm_channel(self, user_id: str) -> str | None:
        return self.state.dm_channel(user_id)

    def dms(self, user_id: str) -> list[Message]:
        return self.state.dms(user_id)

    @property
    def files(self) -> dict[str, FileRecord]:
        return self.state.files

    @property
    def views(self) -> dict[str, ViewRecord]:
        return self.state.views

    @property
    def calls(self) -> list[CallRecord]:
        return self.state.calls

    @property
    def rejected_calls(self) -> list[CallRecord]:
        return self.state.rejected_calls

    def assert_no_rejections(self) -> None:
        self.state.assert_no_rejections()

    def new_trigger_id(self) -> str:
        return self.state.new_trigger_id()

    def message(self, channel: str, ts: str) -> Message:
        return self.state.message(channel, ts)

    def transcript(self) -> str:
        return self.state.transcript()

    message_text = staticmethod(message_text)
