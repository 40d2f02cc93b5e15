"""Boots the real bot (Bolt AsyncApp on aiohttp, real DB) against the Slack stand-in over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import Bot, build_bot, build_web_app
from bot.samples import sample_policy
from bot.settings import Settings, load_settings
from bot.simulated_users import SlackUsers, find_button
from bot.standin import Message, SlackStandIn
from gates.policy import Policy, parse_policy
from storage.db import make_engine, upgrade

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-releasegate"
API_TOKEN = "api-token-for-tests"
CHANNEL = "C0RELEASES"

REQUESTER = "U0REQUESTR"
REVIEWER = "U0REVIEWER"
BACKUP = "U0BACKUP01"
SRE = "U0SRE00001"
SRE_GROUP = "S0SREGROUP"
SRE_MEMBER = "U0SREMEMB1"
PRODUCT = "U0PRODUCT1"
PRODUCT_BACKUP = "U0PRODVP01"
STRANGER = "U0STRANGER"


def make_policy(**overrides: str) -> Policy:
    """Short ramps, and no traffic gates unless a test asks: lifecycle tests need no metrics."""
    params = dict(reviewer=REVIEWER, backup=BACKUP, sre=SRE, sre_group=SRE_GROUP, product=PRODUCT,
                  product_backup=PRODUCT_BACKUP, every="0.2s", observe="1s", min_samples="1000",
                  canary_gates="{}", global_gates="{}")
    params.update(overrides)
    return parse_policy(sample_policy(**params))


@dataclass
class Env:
    standin: SlackStandIn
    db_url: str
    releases: Path
    policy: Policy
    clock: Callable[[], datetime]
    session: aiohttp.ClientSession
    bot: Bot | None = None
    runner: web.AppRunner | None = None
    base: str = ""
    users: SlackUsers | None = None
    extra_settings: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Settings:
        return load_settings(
            SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=self.standin.base_url,
            RELEASEGATE_DATABASE_URL=self.db_url, RELEASEGATE_RELEASES_DIR=str(self.releases),
            RELEASEGATE_API_TOKEN=API_TOKEN, **self.extra_settings,
        )

    async def boot(self) -> None:
        if not self.db_url.startswith("sqlite"):
            # As an operator would: `releasegate db upgrade` before serving on Postgres.
            engine = make_engine(self.db_url)
            await upgrade(engine)
            await engine.dispose()
        self.bot = await build_bot(self.settings(), self.policy, clock=self.clock)
        self.runner = web.AppRunner(build_web_app(self.bot))
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        self.users = SlackUsers(f"{self.base}/slack/events", SECRET, self.session)
        await self.bot.lifecycle.recover()

    async def shutdown(self) -> None:
        if self.runner:
            await self.runner.cleanup()
        if self.bot:
            await self.bot.close()
        self.bot = None
        self.runner = None

    @property
    def u(self) -> SlackUsers:
        assert self.users is not None
        return self.users

    @property
    def lc(self):  # type: ignore[no-untyped-def]
        assert self.bot is not None
        return self.bot.lifecycle

    async def settle(self) -> None:
        await self.lc.drain(timeout=30)

    # -- what people see -----------------------------------------------------------------

    def root(self, name: str) -> Message:
        for m in self.standin.messages(CHANNEL):
            if not m.is_reply and f"Release {name}" in m.rendered:
                return m
        raise AssertionError(f"no root message for {name}: {[m.rendered[:80] for m in self.standin.messages(CHANNEL)]}")

    def thread(self, name: str) -> list[Message]:
        return self.standin.replies(CHANNEL, self.root(name).ts)

    def thread_text(self, name: str) -> str:
        return "\n---\n".join(m.rendered for m in self.thread(name))

    def approval_message(self, name: str, phase_label: str) -> Message:
        msgs = [m for m in self.thread(name) if f"{phase_label} gates:" in m.rendered]
        assert msgs, f"no {phase_label} results in thread:\n{self.thread_text(name)}"
        return msgs[-1]

    def ephemeral_text(self, user: str) -> str:
        return "\n".join(e.rendered for e in self.standin.ephemerals(user=user))

    async def start(self, name: str, user: str = REQUESTER) -> None:
        ans = await self.u.slash(user, f"start {name}", CHANNEL)
        assert ans.status == 200, ans.text
        await self.settle()

    async def press(self, user: str, message: Message, action_id: str) -> int:
        found = find_button(_api(message), action_id)
        assert found is not None, f"no {action_id} button in: {message.rendered}"
        block_id, value = found
        ans = await self.u.click(user, channel=message.channel, message=_api(message), action_id=action_id,
                                 value=value, block_id=block_id, trigger_id=self.standin.new_trigger_id())
        await self.settle()
        return ans.status

    async def decide_in_modal(self, user: str, message: Message, action_id: str, reason: str) -> Any:
        before = set(self.standin.views)
        await self.press(user, message, action_id)
        # The listener acks before it calls views.open, so the modal appears a moment later.
        view = await self.standin.wait_for(
            lambda: next((v for k, v in self.standin.views.items() if k not in before), None), timeout=5
        )
        ans = await self.u.submit_view(
            user, {**view.view, "id": view.id, "hash": view.hash},
            {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}},
        )
        await self.settle()
        return ans

    async def api(self, path: str) -> tuple[int, Any]:
        async with self.session.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {API_TOKEN}"}) as r:
            return r.status, await r.json()


def _api(m: Message) -> dict[str, Any]:
    return {"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks or []}


def fixed_clock() -> Callable[[], datetime]:
    return lambda: datetime.now(UTC)


async def wait_until(pred: Callable[[], bool], timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
