"""apps.connections.open: the app token trades for a Socket Mode websocket URL."""

from __future__ import annotations

from typing import Any

from bot.demo.standin.context import Context

__all__ = ["connections_open"]


def connections_open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    ticket = ctx.socket.issue_ticket()
    ws_root = ctx.root_url.replace("http://", "ws://", 1)
    out = ctx.spec_example("apps.connections.open")
    out["url"] = f"{ws_root}socket?ticket={ticket}&app_id={ctx.state.app_id}"
    return out
