"""Game-day drills end to end against the Slack stand-in: `/release drill`, the CLI request through
the running bot's timers, the stored measurements and `/release drill history`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bot.drill.cli import _drill_cli
from bot.drill.drill import DrillOptions, drills_for
from bot.traffic.flagd import FlagdFile
from gates.policy import Policy
from storage.drills import DrillStore
from tests.e2e.harness import CHANNEL, REVIEWER, SRE, STRANGER, Env, make_policy, wait_until


async def _boot_with_flagd(env: Env, flags: Path) -> None:
    data = make_policy(every="0.2s").to_dict()
    data["traffic"] = {"engines": ["flagd"], "flagd": {"path": str(flags)}}
    await env.shutdown()
    env.policy = Policy.model_validate(data)
    env.extra_settings["RELEASEGATE_TICK_SECONDS"] = "0.2"
    await env.boot()


def _top_level(env: Env, needle: str) -> list[str]:
    return [m.rendered for m in env.standin.messages(CHANNEL) if not m.is_reply and needle in m.rendered]


async def test_drill_measures_approvers_slack_and_rollback(env: Env, tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    await _boot_with_flagd(env, flags)
    store = DrillStore(env.bot.store.engine)  # type: ignore[union-attr]

    await env.u.slash(STRANGER, "drill")
    await wait_until(lambda: "Only release owners" in env.ephemeral_text(STRANGER))

    ans = await env.u.slash(SRE, "drill")
    assert ans.status == 200
    await wait_until(lambda: bool(_top_level(env, "Game-day drill")), timeout=10)
    for _ in range(200):
        releases = await env.bot.store.list_releases(limit=5)  # type: ignore[union-attr]
        if releases:
            break
        await asyncio.sleep(0.05)
    assert len(releases) == 1 and releases[0].name.startswith("drill-")
    name = releases[0].name

    def results_posted() -> bool:
        try:
            return any("Preview gates:" in m.rendered for m in env.thread(name))
        except AssertionError:  # the root message is still on its way through the outbox
            return False

    await wait_until(results_posted, timeout=30)
    # While the drill runs, the shared collaborators stay untouched: only its own release is wrapped.
    assert type(env.lc.slack).__name__ == "Slack" and type(env.lc.traffic).__name__ == "FlagdFile"
    assert set(env.lc.release_hooks) == {name}
    think = 0.6
    await asyncio.sleep(think)  # the approver reads the results before deciding
    await env.press(REVIEWER, env.approval_message(name, "Preview"), "approve", settle=False)
    await wait_until(lambda: bool(_top_level(env, "Game-day drill report")), timeout=30)

    [row] = await store.recent()
    assert row.outcome == "completed", row.detail
    assert row.release_name == name and row.started_by == SRE and row.approver == REVIEWER
    assert row.approver_response_s is not None and think <= row.approver_response_s < think + 5
    assert not row.escalated
    assert row.slack_calls >= 8 and row.slack_failures == 0
    assert row.slack_p50_s is not None and row.slack_p95_s is not None and row.slack_max_s is not None
    assert 0 < row.slack_p50_s <= row.slack_p95_s <= row.slack_max_s < 5
    assert row.rollback_detect_s is not None and row.rollback_engine_s is not None
    assert 0 <= row.rollback_detect_s <= row.rollback_engine_s < 5
    assert row.engine == "flagd" and row.detail["failed_gates"] == ["lcp_p75"]
    # The rollback really reached the engine and the release really ended rolled back.
    assert FlagdFile(flags).percent(name) == 0.0
    rel = await env.bot.store.latest_release(name)  # type: ignore[union-attr]
    assert rel is not None and rel.state == "rolled_back" and rel.phase == "canary"
    report = _top_level(env, "Game-day drill report")[0]
    assert "completed" in report and "Approver response" in report and "engine at 0%" in report
    assert "lcp_p75" in env.thread_text(name)
    # The drill put the lifecycle back as it found it.
    assert type(env.lc.slack).__name__ == "Slack" and env.lc.traffic.name == "flagd"
    assert type(env.lc.traffic).__name__ == "FlagdFile" and env.lc.release_hooks == {}

    # A second drill nobody answers: it is closed by the drill, not left to escalate for ever.
    # (The report message lands a moment before the first drill has finished posting it.)
    await wait_until(lambda: not drills_for(env.lc).busy, timeout=10)
    second = await drills_for(env.lc).run(DrillOptions(channel=CHANNEL, user=SRE, approve_timeout=1.0))
    assert second.outcome == "no_response" and second.approver_response_s is None
    assert second.rollback_engine_s is None
    abandoned = await env.bot.store.latest_release(second.release_name)  # type: ignore[union-attr]
    assert abandoned is not None and abandoned.state == "rejected"

    await env.u.slash(SRE, "drill history")
    await wait_until(lambda: "Game-day drills" in env.ephemeral_text(SRE))
    table = env.ephemeral_text(SRE)
    assert table.index("no_response") < table.index("completed")  # newest first
    assert f"{row.started_at:%Y-%m-%d %H:%M} completed" in table
    env.standin.assert_no_rejections()


async def test_cli_requests_a_drill_from_the_running_bot(env: Env, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    await _boot_with_flagd(env, tmp_path / "flags.json")
    settings = env.settings()
    args = argparse.Namespace(what="run", channel=CHANNEL, user=SRE, approve_timeout="1s", wait=30.0)
    # Nobody approves within the second it allows: the drill ends "no_response" and the CLI says so.
    code = await _drill_cli(args, settings)
    out = capsys.readouterr().out
    assert code == 1 and "drill requested (timer" in out and "no_response" in out
    [row] = await DrillStore(env.bot.store.engine).recent()  # type: ignore[union-attr]
    assert row.started_by == SRE and row.detail["timer_id"] > 0
    code = await _drill_cli(argparse.Namespace(what="history", channel=None), settings)
    assert code == 0 and "no_response" in capsys.readouterr().out
    assert (
        await _drill_cli(
            argparse.Namespace(what="run", channel=None, user=SRE, approve_timeout=None, wait=0.0), settings
        )
        == 2
    )
