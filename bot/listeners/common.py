"""What every listener shares: who clicked where, how to answer them privately, and button values."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.slack.notifier import Notifier

Reply = Callable[[str], Awaitable[None]]
MALFORMED = "That button is malformed; nothing changed."


@dataclass(frozen=True)
class Caller:
    """The person behind a click or a command, and the channel their private answers go to."""

    channel: str
    user: str
    slack: Notifier

    async def reply(self, text: str) -> None:
        await self.slack.ephemeral(self.channel, self.user, text)

    @classmethod
    def of_action(cls, slack: Notifier, body: dict[str, Any]) -> Caller:
        return cls(body["channel"]["id"], body["user"]["id"], slack)


def button_value(body: dict[str, Any], key: str) -> int | None:
    """An integer field of the clicked button's JSON value; None when absent or malformed.

    Every button this bot sends carries JSON like ``{"request": 12}`` or ``{"release": 3, "run": 7}``:
    one parser for all of them, so a forged or truncated value is refused the same way everywhere.
    """
    try:
        return int(json.loads(body["actions"][0]["value"])[key])
    except (KeyError, IndexError, ValueError, TypeError):
        return None
