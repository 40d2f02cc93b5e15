"""What the method handlers see of the stand-in: its workspace, method facts, faults and address.

Handlers take this rather than the server so the method-family modules can sit below server.py
and never import it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.demo.standin.errors import SlackError
from bot.demo.standin.faults import FaultKind, FaultPlan
from bot.demo.standin.schemas import MethodSpec
from bot.demo.standin.socket_mode import SocketModeHub
from bot.demo.standin.state import Channel, SlackState

__all__ = ["Context", "Handler"]


@dataclass
class Context:
    state: SlackState
    specs: dict[str, MethodSpec]
    socket: SocketModeHub
    faults: FaultPlan
    # Appending to the call log bypasses SlackState's change listeners, so whoever appends wakes
    # the server's waiters with this.
    notify: Callable[[], None]
    single_use_triggers: bool = True
    refusing: FaultKind | None = None
    # Known only once the server is listening; URLs handed out embed it.
    root: str = ""

    @property
    def root_url(self) -> str:
        if not self.root:
            raise RuntimeError("the stand-in is not running; await start() first")
        return self.root

    def spec_example(self, method: str) -> dict[str, Any]:
        return self.specs[method].success_example()

    def channel(self, ref: Any) -> Channel:
        """The channel a posting call names, created on first use in a lenient workspace."""
        channel = self.state.resolve_channel(ref) if isinstance(ref, str) else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def existing_channel(self, ref: Any) -> Channel:
        """The channel a call about an earlier message names; never created."""
        cid = self.state.channel_id(ref) if isinstance(ref, str) else None
        if cid is None:
            raise SlackError("channel_not_found")
        return self.state.channels[cid]


# A Web API method: the call's arguments in, the JSON body Slack would answer out.
Handler = Callable[[Context, dict[str, Any]], dict[str, Any]]
