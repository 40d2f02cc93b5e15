"""Wires the Bolt listeners. Each one acks within Slack's 3 seconds, then works in the background.

One file per kind of inbound request: ``commands`` (``/release``), ``actions`` (buttons), ``views``
(modal submissions). A listener only parses, acks and hands off to ``bot.release``.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners.actions import register_actions
from bot.listeners.commands import register_commands
from bot.listeners.views import register_views
from bot.release.flow import Lifecycle


def register(app: AsyncApp, lc: Lifecycle) -> None:
    register_commands(app, lc)
    register_actions(app, lc)
    register_views(app, lc)
