"""Two `serve` replicas on one Postgres database behave as one bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.app import Bot, build_bot, build_web_app
from bot.demo.simulated_users import SlackUsers, find_button
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
        clicks.append(
            users.click(
                REVIEWER, channel=CHANNEL, message=_api(preview), action_id="approve", value=value, block_id=block_id
            )
        )
    answers = await asyncio.gather(*clicks)
    assert all(a.status == 200 for a in answers)
    await wait_until(lambda: sum("Canary started" in m.rendered for m in env.thread("summer-hero")) >= 1, timeout=30)
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


async def test_two_replicas_on_socket_mode_connections_decide_once(env: Env) -> None:
    """Slack hands each envelope to one of the app's open connections, whichever replica holds it."""
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    settings = env.settings().model_copy(update={"slack_signing_secret": None, "slack_app_token": "xapp-1-test"})
    bots = [await build_bot(settings, env.policy) for _ in range(2)]
    handlers = [AsyncSocketModeHandler(b.bolt, "xapp-1-test") for b in bots]
    try:
        for bot, handler in zip(bots, handlers, strict=True):
            await bot.start()
            await handler.connect_async()
        await wait_until(lambda: len(env.standin.socket.open_connections()) == 2, timeout=10)
        start = await env.standin.send_envelope(
            "slash_commands", env.u.slash_form("U0REQUESTR", "start summer-hero"), connection=1
        )
        await env.standin.wait_for_ack(start, timeout=5)
        await wait_until(lambda: _has_results(env), timeout=30)

        preview = env.approval_message("summer-hero", "Preview")
        block_id, value = find_button(_api(preview), "approve")  # type: ignore[misc]
        click = env.u.click_payload(
            REVIEWER, channel=CHANNEL, message=_api(preview), action_id="approve", value=value, block_id=block_id
        )
        # An impatient reviewer: four clicks, spread over both connections, all at once.
        sent = await asyncio.gather(
            *(env.standin.send_envelope("interactive", click, connection=i % 2) for i in range(4))
        )
        acks = await asyncio.gather(*(env.standin.wait_for_ack(e, timeout=5) for e in sent))
        assert all(a.latency < 3 for a in acks)
        await wait_until(lambda: "Canary started" in env.thread_text("summer-hero"), timeout=30)
        await asyncio.sleep(1.0)
        for bot in bots:
            await bot.lifecycle.drain()
        thread = [m.rendered for m in env.thread("summer-hero")]
        assert sum("Canary started" in m for m in thread) == 1
        assert sum("Preview finished" in m for m in thread) == 1
        assert "Approved by" in env.approval_message("summer-hero", "Preview").rendered
        rel = await bots[0].store.latest_release("summer-hero")
        assert rel is not None and rel.phase == "canary"
        assert [d.decision for d in await bots[0].store.decisions(rel.id or 0)] == ["approve"]
        # The other three clicks were answered privately, not ignored.
        assert sum("already approved" in e.rendered.lower() for e in env.standin.ephemerals(user=REVIEWER)) == 3
        env.standin.assert_no_rejections()
    finally:
        for handler in handlers:
            await handler.close_async()
        for bot in bots:
            await bot.close()
