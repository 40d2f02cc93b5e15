"""users.info."""

from __future__ import annotations

import time
from typing import Any

from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError

__all__ = ["info"]


def info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    user = ctx.state.users.get(str(args.get("user")))
    if user is None:
        raise SlackError("user_not_found")
    out = ctx.spec_example("users.info")
    # The documented example supplies the profile fields nobody registered; ours win where set.
    profile = {**out["user"].get("profile", {}), **user["profile"]}
    out["user"].update({k: v for k, v in user.items() if k != "profile"})
    out["user"]["profile"] = profile
    out["user"]["updated"] = int(time.time())
    return out
