"""usergroups.users.list."""

from __future__ import annotations

from typing import Any

from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError

__all__ = ["users_list"]


def users_list(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    members = ctx.state.usergroups.get(str(args.get("usergroup")))
    if members is None:
        raise SlackError("no_such_subteam")
    out = ctx.spec_example("usergroups.users.list")
    out["users"] = list(members)
    return out
