"""kill -9 the bot at seeded random moments of a release, restart it, and finish the release.

Checked from the Slack stand-in's record and the database: no decision lost or doubled, every
phase announced exactly once, every escalation that came due fired exactly once, the audit
chain intact.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.demo.simulated_users import SlackUsers, find_button
from bot.demo.standin import SlackStandIn
from bot.drill.samples import sample_policy, summer_hero
from storage.audit import verify_chain
from storage.db import make_engine, upgrade
from storage.repo import Store
from tests.e2e.harness import (
    API_TOKEN,
    BACKUP,
    CHANNEL,
    PRODUCT,
    PRODUCT_BACKUP,
    REQUESTER,
    REVIEWER,
    SECRET,
    SRE,
    SRE_GROUP,
    SRE_MEMBER,
    TOKEN,
    _api,
)

REPO = Path(__file__).resolve().parents[2]
PHASES = [("Preview", REVIEWER), ("Canary", SRE), ("Global", PRODUCT)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bot:
    """`releasegate serve` as a real process that can be killed with SIGKILL."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        for _ in range(300):
            try:
                async with session.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("serve did not come up:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _thread(standin: SlackStandIn) -> list[str]:
    roots = [m for m in standin.messages(CHANNEL) if not m.is_reply and "Release summer-hero" in m.rendered]
    if not roots:
        return []
    return [m.rendered for m in standin.replies(CHANNEL, roots[0].ts)]


async def _one_run(seed: int, db_url: str, tmp: Path) -> None:
    rng = random.Random(seed)
    standin = SlackStandIn(bot_tokens=[TOKEN])
    await standin.start()
    for uid in (REQUESTER, REVIEWER, BACKUP, SRE, SRE_MEMBER, PRODUCT, PRODUCT_BACKUP):
        standin.add_user(uid, uid.lower())
    standin.add_usergroup(SRE_GROUP, [SRE_MEMBER])
    releases = tmp / "releases"
    summer_hero(releases)
    policy = tmp / "policy.yml"
    policy.write_text(
        sample_policy(
            reviewer=REVIEWER,
            backup=BACKUP,
            sre=SRE,
            sre_group=SRE_GROUP,
            product=PRODUCT,
            product_backup=PRODUCT_BACKUP,
            sla="2s",
            every="0.2s",
            observe="1s",
            canary_gates="{}",
            global_gates="{}",
        )
    )
    if not db_url.startswith("sqlite"):
        engine = make_engine(db_url)
        await upgrade(engine)
        await engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": standin.base_url,
        "RELEASEGATE_DATABASE_URL": db_url,
        "RELEASEGATE_POLICY": str(policy),
        "RELEASEGATE_RELEASES_DIR": str(releases),
        "RELEASEGATE_API_TOKEN": API_TOKEN,
        "RELEASEGATE_ARTIFACTS_DIR": str(tmp / "artifacts"),
        "RELEASEGATE_WORKERS": "1",
        "RELEASEGATE_TICK_SECONDS": "0.2",
        "RELEASEGATE_TIMER_CLAIM_TIMEOUT": "4",
        "RELEASEGATE_OUTBOX_LEASE_SECONDS": "2",
    }
    bot = Bot(env, port, tmp / "serve.log")
    kill_at = rng.uniform(0.3, 4.0)  # seconds into the release
    try:
        async with aiohttp.ClientSession() as session:
            users = SlackUsers(f"http://127.0.0.1:{port}/slack/events", SECRET, session)
            await bot.start(session)
            t0 = time.monotonic()

            async def killer() -> None:
                await asyncio.sleep(kill_at)
                bot.kill()
                await asyncio.sleep(rng.uniform(0, 0.5))
                await bot.start(session)

            kill_task = asyncio.create_task(killer())
            # Some approvers take longer than the 2 s SLA, so escalations come due around the kills too.
            await _drive(users, standin, t0, [rng.uniform(0, 2.6) for _ in PHASES])
            await kill_task
            await _settled(standin)
        engine = make_engine(db_url)
        store = Store(engine)
        try:
            rel = await store.latest_release("summer-hero")
            assert rel is not None and rel.state == "completed", (seed, kill_at, rel and rel.state)
            decisions = await store.decisions(rel.id or 0)
            assert sorted(d.phase for d in decisions) == ["canary", "global", "preview"], (seed, kill_at)
            entries = await store.audit_entries()
            assert verify_chain(entries) is None
            async with store.sessions() as s:
                escalated_requests = (
                    await s.execute(text("SELECT count(*) FROM approval_requests WHERE escalation_level >= 1"))
                ).scalar()
        finally:
            await engine.dispose()
        thread = _thread(standin)
        roots = [m for m in standin.messages(CHANNEL) if not m.is_reply and "Release summer-hero" in m.rendered]
        assert len(roots) == 1, (seed, kill_at)
        for label, _ in PHASES:
            for what in (f"*{label} started*", f"*{label} finished*", f"{label} gates:"):
                assert sum(what in m for m in thread) == 1, (seed, kill_at, what, thread)
        # Every escalation that came due fired once: one audit entry, one thread note, per request
        # and SLA clock (a resume restarts the clock, so it may escalate once more).
        fired = [e["detail"]["request"] for e in entries if e["action"] == "sla.escalate"]
        resumes = sum(e["action"] == "release.resume" for e in entries)
        if resumes == 0:
            assert len(fired) == len(set(fired)) == int(escalated_requests or 0), (seed, kill_at)
        else:
            assert len(fired) <= len(set(fired)) + resumes, (seed, kill_at, fired, resumes)
        assert sum("escalated to" in m for m in thread) == len(fired), (seed, kill_at)
        assert sum("live everywhere" in m for m in thread) == 1
        standin.assert_no_rejections()
    finally:
        bot.stop()
        await standin.stop()


async def _drive(users: SlackUsers, standin: SlackStandIn, t0: float, think: list[float]) -> None:
    """What the people do, retrying whatever a dead bot did not answer."""
    deadline = t0 + 90

    async def send(coro_factory):  # type: ignore[no-untyped-def]
        while time.monotonic() < deadline:
            try:
                ans = await coro_factory()
                if ans.status == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError("the bot never answered")

    await send(lambda: users.slash(REQUESTER, "start summer-hero", CHANNEL))
    for (label, owner), pause in zip(PHASES, think, strict=True):
        while not any(f"{label} gates:" in m.rendered for m in standin.messages(CHANNEL, include_replies=True)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{label} results never arrived")
            await asyncio.sleep(0.05)
        await asyncio.sleep(pause)
        while time.monotonic() < deadline:
            thread = _thread(standin)
            # A slow restart can outlast two SLAs; the owner then does what the pause note says.
            if sum("*Paused*" in m for m in thread) > sum("Resumed by" in m for m in thread):
                await send(lambda o=owner: users.slash(o, "resume summer-hero", CHANNEL))
                await asyncio.sleep(0.5)
            msgs = [m for m in standin.messages(CHANNEL, include_replies=True) if f"{label} gates:" in m.rendered]
            if msgs and find_button(_api(msgs[-1]), "approve"):
                msg = msgs[-1]
                block_id, value = find_button(_api(msg), "approve")  # type: ignore[misc]
                await send(
                    lambda m=msg, b=block_id, v=value, o=owner: users.click(
                        o, channel=CHANNEL, message=_api(m), action_id="approve", value=v, block_id=b
                    )
                )
            decided = [
                m
                for m in standin.messages(CHANNEL, include_replies=True)
                if f"{label} gates:" in m.rendered and "Approved by" in m.rendered
            ]
            if decided:
                break
            await asyncio.sleep(0.3)
        else:
            raise AssertionError(f"{label} was never approved")


async def _settled(standin: SlackStandIn) -> None:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if any("live everywhere" in m for m in _thread(standin)):
            await asyncio.sleep(1.0)  # let any stray duplicate show itself
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the release never completed:\n" + "\n".join(_thread(standin)))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
async def test_kill_9_sqlite(seed: int, tmp_path: Path) -> None:
    await _one_run(seed, f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}", tmp_path)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("seed", range(100, 104))
async def test_kill_9_postgres(seed: int, tmp_path: Path) -> None:
    from tests.conftest import drop_postgres_database, fresh_postgres_url

    url = await fresh_postgres_url()
    try:
        await _one_run(seed, url, tmp_path)
    finally:
        await drop_postgres_database(url)
