"""Who may decide: the phase's owners, with user groups resolved through Slack."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError

from bot.slack.notifier import Notifier

log = logging.getLogger(__name__)


async def is_owner(slack: Notifier, user: str, owners: Iterable[str]) -> bool:
    groups = []
    for o in owners:
        if o == user:
            return True
        if o.startswith("S"):
            groups.append(o)
    for g in groups:
        try:
            if user in await slack.usergroup_members(g):
                return True
        except SlackApiError as exc:
            # Fail closed: an unresolvable group grants nobody anything.
            log.warning("could not resolve user group %s: %s", g, exc.response.get("error"))
    return False
