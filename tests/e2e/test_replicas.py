"""Two `serve` replicas on one Postgres database behave as one bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.app import Bot, build_bot, build_web_app
from bot.simulated_users import SlackUsers, find_button
from storage.audit import verify_chain
from tests.e2e.harness import BACKUP, CHANNEL, REVIEWER, SECRET, SRE, Env, _api, make_policy, wait_until


@pytest.fixture
async def db_url() -> AsyncIterator[str]:
    """Replicas share one Postgres database (a SQLite file belongs to one process): Postgres only."""
    from tests.conftest import drop_postgres_database, fresh_postgres_url

    url = await fresh_postgres_url()
    yield url
    await drop_postgres_database(url)


@pytest.fixture
async def second(env: Env) -> AsyncIterator[tuple[Bot, SlackUsers]]:
    bot = await build_bot(env.settings(), env.policy)
    runner = web.AppRunner(build_web_app(bot))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    await bot.start()
    users = SlackUsers(f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events", SECRET, env.session)
    yield bot, users
    await runner.cleanup()
    await bot.close()


async def test_two_replicas_decide_once_escalate_once_and_keep_one_audit_order(
    env: Env, second: tuple[Bot, SlackUsers]
) -> None:
    other, other_users = second
    # Short SLAs so that both replicas' timer loops race for the same escalation.
    for bot in (env.bot, other):
        assert bot is not None
        bot.timers.tick_seconds = 0.1
    await env.shutdown()
    env.policy = make_policy(sla="1s")
    env.extra_settings["RELEASEGATE_TICK_SECONDS"] = "0.1"
    await env.boot()
    other.lifecycle.policy = env.policy

    await other_users.slash("U0REQUESTR", "start summer-hero", CHANNEL)  # the start arrives at replica 2
    await wait_until(lambda: _has_results(env), timeout=30)
    await wait_until(lambda: "escalated to" in env.thread_text("summer-hero"), timeout=20)
    await asyncio.sleep(0.5)  # both loops have had their chance at the timer
    assert sum("escalated to" in m.rendered for m in env.thread("summer-hero")) == 1
    assert sum("backup approver" in m.rendered for m in env.standin.dms(BACKUP)) == 1

    preview = env.approval_message("summer-hero", "Preview")
    block_id, value = find_button(_api(preview), "approve")  # type: ignore[misc]
    clicks = []
    for users in (env.u, other_users, env.u, other_users):
        clicks.append(users.click(REVIEWER, channel=CHANNEL, message=_api(preview), action_id="approve",
                                  value=value, block_id=block_id))
    answers = await asyncio.gather(*clicks)
    assert all(a.status == 200 for a in answers)
    await wait_until(lambda: sum("Canary started" in m.rendered for m in env.thread("summer-hero")) >= 1,
                     timeout=30)
    await asyncio.sleep(1.0)
    await env.settle()
    await other.lifecycle.drain()
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None
    assert len(await env.bot.store.decisions(rel.id or 0)) == 1  # type: ignore[union-attr]
    assert sum("Canary started" in m.rendered for m in env.thread("summer-hero")) == 1
    assert sum("Preview finished" in m.rendered for m in env.thread("summer-hero")) == 1
    entries = await env.bot.store.audit_entries()  # type: ignore[union-attr]
    assert verify_chain(entries) is None
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert [e["action"] for e in entries].count("decision.approve") == 1
    assert SRE


def _has_results(env: Env) -> bool:
    try:
        return any("Preview gates:" in m.rendered for m in env.thread("summer-hero"))
    except AssertionError:
        return False
