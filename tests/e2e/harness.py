"""The end-to-end tests' people and policy; the machinery is bot.demo.sandbox (shared with the demo)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bot.demo.sandbox import API_TOKEN, BOT_TOKEN, CHANNEL, SIGNING_SECRET, Sandbox, _api, wait_until
from bot.demo.standin import SlackStandIn
from bot.drill.samples import sample_policy, summer_hero
from gates.policy import Policy, parse_policy

SECRET = SIGNING_SECRET
TOKEN = BOT_TOKEN

REQUESTER = "U0REQUESTR"
REVIEWER = "U0REVIEWER"
BACKUP = "U0BACKUP01"
SRE = "U0SRE00001"
SRE_GROUP = "S0SREGROUP"
SRE_MEMBER = "U0SREMEMB1"
PRODUCT = "U0PRODUCT1"
PRODUCT_BACKUP = "U0PRODVP01"
STRANGER = "U0STRANGER"

__all__ = ["API_TOKEN", "CHANNEL", "Env", "_api", "wait_until"]


def make_policy(**overrides: str) -> Policy:
    """Short ramps, and no traffic gates unless a test asks: lifecycle tests need no metrics."""
    params = dict(
        reviewer=REVIEWER,
        backup=BACKUP,
        sre=SRE,
        sre_group=SRE_GROUP,
        product=PRODUCT,
        product_backup=PRODUCT_BACKUP,
        every="0.2s",
        observe="1s",
        min_samples="1000",
        canary_gates="{}",
        global_gates="{}",
    )
    params.update(overrides)
    return parse_policy(sample_policy(**params))


class Env(Sandbox):
    async def start(self, name: str, user: str = REQUESTER) -> None:
        await super().start(name, user)


@asynccontextmanager
async def running_env(tmp_path: Path, db_url: str | None = None) -> AsyncIterator[Env]:
    """The stand-in with the test people, a sample bundle, and the real bot booted against them."""
    standin = SlackStandIn(bot_tokens=[TOKEN])
    await standin.start()
    for uid in (REQUESTER, REVIEWER, BACKUP, SRE, SRE_MEMBER, PRODUCT, PRODUCT_BACKUP, STRANGER):
        standin.add_user(uid, uid.lower())
    standin.add_usergroup(SRE_GROUP, [SRE_MEMBER])
    releases = tmp_path / "releases"
    releases.mkdir(exist_ok=True)
    summer_hero(releases)
    url = db_url or f"sqlite+aiosqlite:///{tmp_path / 'releasegate.db'}"
    async with aiohttp.ClientSession() as session:
        env = Env(standin=standin, db_url=url, releases=releases, policy=make_policy(), session=session)
        await env.boot()
        try:
            yield env
        finally:
            await env.shutdown()
            await standin.stop()
