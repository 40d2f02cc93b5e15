"""Slash commands that answer privately, restarts, Slack failing, and Socket Mode."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import build_bot
from tests.e2e.harness import CHANNEL, REQUESTER, REVIEWER, SRE, SRE_MEMBER, STRANGER, Env


async def test_help_usage_and_unknown_subcommands(env: Env) -> None:
    ans = await env.u.slash(REQUESTER, "help")
    assert ans.status == 200 and "/release start NAME" in ans.text
    ans = await env.u.slash(REQUESTER, "deploy <!channel> now")
    assert ans.status == 200
    assert "Unknown subcommand" in ans.text and "/release start NAME" in ans.text
    assert "<!channel>" not in ans.text
    ans = await env.u.slash(REQUESTER, "start")
    assert "needs a release name" in ans.text
    ans = await env.u.slash(REQUESTER, "start Bad/Name")
    assert "release names are lower-case" in ans.text
    await env.settle()
    assert await env.bot.store.list_releases() == []  # type: ignore[union-attr]


async def test_status_and_list_answer_privately(env: Env) -> None:
    await env.u.slash(REQUESTER, "status")
    await env.settle()
    assert "No release is in progress" in env.ephemeral_text(REQUESTER)
    await env.start("summer-hero")
    await env.u.slash(STRANGER, "status summer-hero")
    await env.u.slash(STRANGER, "list")
    await env.u.slash(STRANGER, "status nothing-here")
    await env.settle()
    text = env.ephemeral_text(STRANGER)
    assert "Release summer-hero" in text and "awaiting decision" in text
    assert "Recent releases" in text
    assert "No release named *nothing-here*" in text
    # Nothing of that went into the channel for everyone.
    assert all("Recent releases" not in m.rendered for m in env.standin.messages(CHANNEL, include_replies=True))


async def test_pause_resume_rollback_are_owner_only(env: Env) -> None:
    await env.start("summer-hero")
    await env.u.slash(STRANGER, "pause summer-hero")
    await env.settle()
    assert "Only the Preview owners" in env.ephemeral_text(STRANGER)
    await env.u.slash(REVIEWER, "pause summer-hero")
    await env.settle()
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "paused"
    assert "Paused by" in env.thread_text("summer-hero")
    # Approving while paused is refused; resuming brings the same buttons back to life.
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    assert "paused" in env.ephemeral_text(REVIEWER)
    await env.u.slash(REVIEWER, "resume summer-hero")
    await env.settle()
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.phase == "canary"
    await env.u.slash(REVIEWER, "rollback summer-hero broken")
    await env.settle()
    assert "Only the Canary owners" in env.ephemeral_text(REVIEWER)
    await env.u.slash(SRE_MEMBER, "rollback summer-hero LCP spike in EU")
    await env.settle()
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "rolled_back" and rel.traffic_percent == 0
    assert "LCP spike in EU" in env.thread_text("summer-hero")
    # A rolled-back release can be started again, as a new attempt.
    await env.start("summer-hero")
    latest = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert latest is not None and latest.attempt == 2
    assert SRE


async def test_state_survives_a_restart_mid_release(env: Env) -> None:
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    canary = env.approval_message("summer-hero", "Canary")
    await env.shutdown()
    await env.boot()  # same database, new process state
    await env.press(SRE, canary, "approve")
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.phase == "global" and rel.state == "awaiting"
    assert "Global started" in env.thread_text("summer-hero")


async def test_interrupted_gates_run_again_after_restart(env: Env) -> None:
    # Simulate a crash while the Preview gates were running: the release is recorded, gates never finished.
    bot = env.bot
    assert bot is not None
    original = bot.lifecycle.run_gates

    async def crash(release_id: int, run_id: int) -> None:
        raise asyncio.CancelledError

    bot.lifecycle.run_gates = crash  # type: ignore[method-assign]
    await env.start("summer-hero")
    bot.lifecycle.run_gates = original  # type: ignore[method-assign]
    rel = await bot.store.latest_release("summer-hero")
    assert rel is not None and rel.state == "running"
    await env.shutdown()
    await env.boot()
    await env.settle()
    assert "Preview gates: PASS" in env.thread_text("summer-hero")


async def test_click_before_the_approval_message_ts_is_recorded_still_rewrites_it(env: Env) -> None:
    # The window between Slack showing the Preview results and the bot recording the message's ts
    # (wide after a crash there, until recovery runs): the reviewer clicks inside it.
    from sqlalchemy import text

    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    async with env.bot.store.sessions.begin() as s:  # type: ignore[union-attr]
        await s.execute(text("UPDATE approval_requests SET message_ts = NULL"))
    await env.press(REVIEWER, preview, "approve")
    after = env.approval_message("summer-hero", "Preview")
    assert after.ts == preview.ts
    assert "Approved by" in after.rendered and not any(b.get("type") == "actions" for b in after.blocks or [])
    assert sum("Preview gates:" in m.rendered for m in env.thread("summer-hero")) == 1
    assert "Canary started" in env.thread_text("summer-hero")


async def test_slack_429_and_500_are_retried_and_nothing_is_lost(env: Env) -> None:
    env.standin.inject_fault("chat.postMessage", kind="rate_limited", count=2, retry_after=1)
    env.standin.inject_fault("chat.update", kind="server_error", count=2)
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    text = env.thread_text("summer-hero")
    assert "Preview started" in text and "Preview finished" in text and "Canary started" in text
    assert "Approved by" in env.approval_message("summer-hero", "Preview").rendered
    statuses = [c.status for c in env.standin.calls]
    assert 429 in statuses and 500 in statuses


async def test_socket_mode_handles_slash_commands(env: Env) -> None:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    settings = env.settings().model_copy(update={"slack_signing_secret": None, "slack_app_token": "xapp-1-test"})
    bot = await build_bot(settings, env.policy)
    handler = AsyncSocketModeHandler(bot.bolt, "xapp-1-test")
    await handler.connect_async()
    try:
        await env.standin.socket.wait_for_connection()
        envelope = await env.standin.send_envelope("slash_commands", env.u.slash_form(REQUESTER, "help"))
        ack = await env.standin.wait_for_ack(envelope, timeout=5)
        assert "/release start NAME" in str(ack.payload)
        envelope = await env.standin.send_envelope("slash_commands", env.u.slash_form(REQUESTER, "start summer-hero"))
        await env.standin.wait_for_ack(envelope, timeout=5)
        await bot.lifecycle.drain()
        assert "Preview gates: PASS" in env.thread_text("summer-hero")
    finally:
        await handler.close_async()
        await bot.close()


async def test_messages_owed_while_slack_is_down_arrive_once_it_is_back(env: Env) -> None:
    from sqlalchemy import text

    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    env.standin.refuse_all(True)
    await env.press(REVIEWER, preview, "approve", settle=False)

    async def decided() -> bool:
        rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
        return rel is not None and rel.phase == "canary"

    for _ in range(100):  # the decision is recorded even though Slack is down
        if await decided():
            break
        await asyncio.sleep(0.1)
    assert await decided()
    async with env.bot.store.sessions() as s:  # type: ignore[union-attr]
        pending = (await s.execute(text("SELECT count(*) FROM outbox WHERE state = 'pending'"))).scalar()
    assert pending and pending >= 1
    env.standin.refuse_all(False)
    await env.settle(timeout=60)
    thread = env.thread("summer-hero")
    assert sum("Preview finished" in m.rendered for m in thread) == 1
    assert sum("Canary started" in m.rendered for m in thread) == 1
    assert "Approved by" in env.approval_message("summer-hero", "Preview").rendered


async def test_a_burst_of_commands_gets_a_polite_refusal(env: Env) -> None:
    from tests.e2e.harness import STRANGER

    answers = [await env.u.slash(STRANGER, "list", env.channel) for _ in range(21)]
    assert all(a.status == 200 for a in answers)
    assert "commands in the last minute" not in answers[19].text
    assert "You have sent 20 commands in the last minute; please try again in" in answers[20].text
    # Help is never refused, even now.
    assert "commands in the last minute" not in (await env.u.slash(STRANGER, "help", env.channel)).text


async def test_a_start_of_a_running_release_touches_no_image(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.release.start

    await env.start("summer-hero")
    decoded: list[str] = []
    real = bot.release.start.precheck
    monkeypatch.setattr(bot.release.start, "precheck", lambda *a, **k: decoded.append("x") or real(*a, **k))
    await env.start("summer-hero")  # again, while Preview awaits a decision
    assert "already in progress" in env.ephemeral_text(REQUESTER)
    assert decoded == []  # refused before a single image was decoded


async def test_release_yml_is_parsed_off_the_event_loop(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import bot.preview.bundle

    threads: list[str] = []
    real = bot.preview.bundle.parse_bundle

    def spy(*a: object, **k: object) -> object:
        threads.append(threading.current_thread().name)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.preview.bundle, "parse_bundle", spy)
    await env.start("summer-hero")
    assert threads and threading.main_thread().name not in threads
