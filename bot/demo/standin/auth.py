"""auth.test: who the bot token belongs to."""

from __future__ import annotations

from typing import Any

from bot.demo.standin.context import Context

__all__ = ["test"]


def test(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    out = ctx.spec_example("auth.test")
    s = ctx.state
    out.update(
        url=s.workspace_url,
        team=s.team_name,
        user=s.bot_name,
        team_id=s.team_id,
        user_id=s.bot_user_id,
        bot_id=s.bot_id,
    )
    return out
