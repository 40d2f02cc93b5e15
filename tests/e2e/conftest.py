from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.samples import summer_hero
from bot.standin import SlackStandIn
from tests.e2e.harness import (
    BACKUP,
    PRODUCT,
    PRODUCT_BACKUP,
    REQUESTER,
    REVIEWER,
    SRE,
    SRE_GROUP,
    SRE_MEMBER,
    STRANGER,
    TOKEN,
    Env,
    make_policy,
)


@pytest.fixture
async def env(tmp_path: Path, db_url: str) -> AsyncIterator[Env]:
    standin = SlackStandIn(bot_tokens=[TOKEN])
    await standin.start()
    for uid in (REQUESTER, REVIEWER, BACKUP, SRE, SRE_MEMBER, PRODUCT, PRODUCT_BACKUP, STRANGER):
        standin.add_user(uid, uid.lower())
    standin.add_usergroup(SRE_GROUP, [SRE_MEMBER])
    releases = tmp_path / "releases"
    releases.mkdir()
    summer_hero(releases)
    async with aiohttp.ClientSession() as session:
        e = Env(standin=standin, db_url=db_url, releases=releases, policy=make_policy(), session=session)
        await e.boot()
        try:
            yield e
        finally:
            await e.shutdown()
            await standin.stop()
