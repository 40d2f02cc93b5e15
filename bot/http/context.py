"""What the HTTP routes need from the running bot, and nothing more.

Routes get this instead of the whole ``Bot``: they read and write the database and the settings,
and never reach into Slack or the release flow, so ``bot/app.py`` can import them without the
routes importing it back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.settings import Settings
from storage.repo import Store


@dataclass(frozen=True)
class HttpContext:
    settings: Settings
    store: Store
    engine: AsyncEngine
    clock: Callable[[], datetime]
    # Whether a person may open the Audit Inspector (policy ``auditors``, user groups resolved in Slack):
    # the one question the routes need answered from outside the database.
    is_auditor: Callable[[str], Awaitable[bool]]
