"""A whole workspace on one machine: the Slack stand-in, the real bot over HTTP, and people.

``releasegate demo`` and the end-to-end tests drive releases through this, so that what they
exercise is exactly the app a real workspace talks to.
"""

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
from bot.demo.simulated_users import Answer, SlackUsers, find_button
from bot.demo.standin import Message, SlackStandIn
from bot.release.flow import Lifecycle
from bot.settings import Settings, load_settings
from gates.policy import Policy
from storage.db import make_engine, upgrade

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-sandbox-releasegate"
API_TOKEN = "sandbox-api-token"
CHANNEL = "C0RELEASES"


def _api(m: Message) -> dict[str, Any]:
    return {"type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks or []}


@dataclass
class Sandbox:
    standin: SlackStandIn
    db_url: str
    releases: Path
    policy: Policy
    session: aiohttp.ClientSession
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    channel: str = CHANNEL
    bot: Bot | None = None
    runner: web.AppRunner | None = None
    base: str = ""
    users: SlackUsers | None = None
    extra_settings: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Settings:
        return load_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=self.standin.base_url,
            RELEASEGATE_DATABASE_URL=self.db_url,
            RELEASEGATE_RELEASES_DIR=str(self.releases),
            RELEASEGATE_API_TOKEN=API_TOKEN,
            **({"RELEASEGATE_ARTIFACTS_DIR": str(self.releases.parent / "artifacts")} | self.extra_settings),
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
        self.users = SlackUsers(f"{self.base}/slack/events", SIGNING_SECRET, self.session)
        await self.bot.start()

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
    def lc(self) -> Lifecycle:
        assert self.bot is not None
        return self.bot.lifecycle

    async def settle(self, timeout: float = 30) -> None:
        """Wait until the bot has nothing left to do.

        A listener hands its work to the lifecycle just after it acks, so an empty task set right
        after an HTTP answer proves nothing: it must stay empty across a short grace period.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        quiet = 0
        while quiet < 2 and loop.time() < end:
            await asyncio.sleep(0.05)
            if self.lc.tasks:
                quiet = 0
                await self.lc.drain(timeout=max(0.0, end - loop.time()))
            else:
                quiet += 1

    # -- what people see -----------------------------------------------------------------

    def root(self, name: str) -> Message:
        for m in self.standin.messages(self.channel):
            if not m.is_reply and f"Release {name}" in m.rendered:
                return m
        raise AssertionError(f"no root message for {name}")

    def thread(self, name: str) -> list[Message]:
        return self.standin.replies(self.channel, self.root(name).ts)

    def thread_text(self, name: str) -> str:
        return "\n---\n".join(m.rendered for m in self.thread(name))

    def approval_message(self, name: str, phase_label: str) -> Message:
        msgs = [m for m in self.thread(name) if f"{phase_label} gates:" in m.rendered]
        assert msgs, f"no {phase_label} results in thread:\n{self.thread_text(name)}"
        return msgs[-1]

    def last_with(self, name: str, action_id: str) -> Message:
        msgs = [m for m in self.thread(name) if find_button(_api(m), action_id) is not None]
        assert msgs, f"no message with a {action_id} button in thread:\n{self.thread_text(name)}"
        return msgs[-1]

    def ephemeral_text(self, user: str) -> str:
        return "\n".join(e.rendered for e in self.standin.ephemerals(user=user))

    # -- what people do ------------------------------------------------------------------

    async def start(self, name: str, user: str) -> None:
        ans = await self.u.slash(user, f"start {name}", self.channel)
        assert ans.status == 200, ans.text
        await self.settle()

    async def press(self, user: str, message: Message, action_id: str, *, settle: bool = True) -> int:
        found = find_button(_api(message), action_id)
        assert found is not None, f"no {action_id} button in: {message.rendered}"
        block_id, value = found
        ans = await self.u.click(
            user,
            channel=message.channel,
            message=_api(message),
            action_id=action_id,
            value=value,
            block_id=block_id,
            trigger_id=self.standin.new_trigger_id(),
        )
        if settle:
            await self.settle()
        return ans.status

    async def decide_in_modal(self, user: str, message: Message, action_id: str, reason: str) -> Answer:
        before = set(self.standin.views)
        await self.press(user, message, action_id)
        # The listener acks before it calls views.open, so the modal appears a moment later.
        view = await self.standin.wait_for(
            lambda: next((v for k, v in self.standin.views.items() if k not in before), None), timeout=5
        )
        ans = await self.u.submit_view(
            user,
            {**view.view, "id": view.id, "hash": view.hash},
            {"reason": {"reason_input": {"type": "plain_text_input", "value": reason}}},
        )
        await self.settle()
        return ans

    async def api(self, path: str, key: str = API_TOKEN) -> tuple[int, Any]:
        async with self.session.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {key}"}) as r:
            return r.status, await r.json()

    async def post_metrics(self, items: list[dict[str, Any]], key: str = API_TOKEN) -> tuple[int, Any]:
        async with self.session.post(
            f"{self.base}/api/v1/metrics", json=items, headers={"Authorization": f"Bearer {key}"}
        ) as r:
            return r.status, await r.json()


async def wait_until(pred: Callable[[], bool], timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
