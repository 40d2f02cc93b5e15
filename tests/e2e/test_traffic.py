"""Traffic through real engines: the flagd file and a signed webhook, pause, resume, rollback while
Slack is down, strangers refused, and the rollback button behind its confirmation dialog."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.demo.simulated_users import find_button
from bot.traffic.flagd import FlagdFile, read_flag
from bot.traffic.webhook import verify
from gates.policy import Policy
from tests.e2e.harness import REVIEWER, SRE, STRANGER, Env, _api, make_policy, wait_until

HOOK_SECRET = "e2e-webhook-secret"


@pytest.fixture
async def hook_receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(HOOK_SECRET.encode(), request.headers, raw):
            return web.json_response({"error": "bad signature"}, status=401)
        got.append(json.loads(raw))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/traffic", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/traffic", got
    await runner.cleanup()


def _with_engines(policy: Policy, flags: Path, hook_url: str | None = None) -> Policy:
    data = policy.to_dict()
    data["traffic"] = {"engines": ["flagd"] + (["webhook"] if hook_url else []), "flagd": {"path": str(flags)}}
    if hook_url:
        data["traffic"]["webhook"] = {"url": hook_url, "secret_env": "RELEASEGATE_WEBHOOK_SECRET", "attempts": 2}
    return Policy.model_validate(data)


async def _reboot(env: Env, policy: Policy) -> None:
    await env.shutdown()
    env.policy = policy
    await env.boot()


async def _state(env: Env, name: str = "summer-hero") -> tuple[str, str, float]:
    rel = await env.bot.store.latest_release(name)  # type: ignore[union-attr]
    assert rel is not None
    return rel.phase, rel.state, rel.traffic_percent


async def _wait_percent(flagd: FlagdFile, pct: float, timeout: float = 10) -> None:
    await wait_until(lambda: flagd.percent("summer-hero") == pct, timeout=timeout)


async def _wait_state(env: Env, want: tuple[str, str, float], timeout: float = 10) -> None:
    """The engine is told first and the database second, so a test that saw the file waits for the row."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (got := await _state(env)) != want:
        assert loop.time() < end, got
        await asyncio.sleep(0.02)


async def test_pause_holds_resume_ramps_rollback_reaches_engines_while_slack_is_down(
    env: Env, tmp_path: Path, hook_receiver: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASEGATE_WEBHOOK_SECRET", HOOK_SECRET)
    hook_url, hook_got = hook_receiver
    flags = tmp_path / "flags" / "releasegate.flagd.json"
    await _reboot(env, _with_engines(make_policy(every="1.5s"), flags, hook_url))
    flagd = FlagdFile(flags)

    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve", settle=False)
    await _wait_percent(flagd, 5.0)
    await _wait_state(env, ("canary", "running", 5.0))

    # A stranger cannot pause; an owner can, and while paused no step is taken.
    await env.u.slash(STRANGER, "pause summer-hero")
    await wait_until(lambda: "Only the Canary owners" in env.ephemeral_text(STRANGER))
    assert (await _state(env))[1] == "running"
    await env.u.slash(SRE, "pause summer-hero")
    await wait_until(lambda: "Paused by" in env.thread_text("summer-hero"))
    assert await _state(env) == ("canary", "paused", 5.0)
    await asyncio.sleep(2.0)  # past the moment the 10% step was due
    assert await _state(env) == ("canary", "paused", 5.0)
    assert flagd.percent("summer-hero") == 5.0
    assert [h["percent"] for h in hook_got] == [5.0]

    # Resume: the ramp catches up with where it should be.
    await env.u.slash(SRE, "resume summer-hero")
    await _wait_percent(flagd, 10.0)
    await wait_until(lambda: [h["percent"] for h in hook_got] == [5.0, 10.0])
    # Held past its settling time, the Canary may already ask for its decision once at 10%.
    for _ in range(200):
        if (await _state(env))[2] == 10.0:
            break
        await asyncio.sleep(0.02)
    assert (await _state(env))[::2] == ("canary", 10.0)
    status, flag_api = await env.api("/api/v1/flags/summer-hero")
    assert status == 200 and flag_api["percent"] == 10.0 and flag_api["phase"] == "canary"

    # Slack goes down. The slash command is an inbound request, so it still arrives.
    env.standin.refuse_all(True)
    try:
        await env.u.slash(STRANGER, "rollback summer-hero")
        await asyncio.sleep(0.3)
        assert (await _state(env))[1] != "rolled_back"
        ans = await env.u.slash(SRE, "rollback summer-hero edge errors in EU")
        assert ans.status == 200
        await _wait_percent(flagd, 0.0)
        await wait_until(lambda: bool(hook_got) and hook_got[-1]["percent"] == 0.0)
        await _wait_state(env, ("canary", "rolled_back", 0.0))
        flag = read_flag(flags, "releasegate-summer-hero")
        assert flag is not None and flag["targeting"] == {} and flag["defaultVariant"] == "baseline"
        assert hook_got[-1]["release"] == "summer-hero" and "rollback by U0SRE00001" in hook_got[-1]["reason"]
        status, flag_api = await env.api("/api/v1/flags/summer-hero")
        assert flag_api["percent"] == 0.0 and flag_api["state"] == "rolled_back"
        assert env.standin.rejected_calls or any(c.status >= 500 for c in env.standin.calls)
    finally:
        env.standin.refuse_all(False)
    await env.settle()
    entries = await env.bot.store.audit_entries()  # type: ignore[union-attr]
    actions = [(e["actor"], e["action"], e["outcome"]) for e in entries]
    assert (STRANGER, "release.pause", "refused") in actions
    assert (STRANGER, "release.rollback", "refused") in actions
    assert (SRE, "release.rollback", "ok") in actions
    steps = [e["detail"]["percent"] for e in entries if e["action"] == "traffic.step"]
    assert steps == [5.0, 10.0]
    assert all(e["detail"]["engine"] == "flagd+webhook" for e in entries if e["action"] == "traffic.step")


async def test_global_ramp_writes_per_region_percentages(env: Env, tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    await _reboot(env, _with_engines(make_policy(every="0.2s"), flags))
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await env.press(SRE, env.approval_message("summer-hero", "Canary"), "approve")
    assert await _state(env) == ("global", "awaiting", 100.0)
    flag = read_flag(flags, "releasegate-summer-hero")
    assert flag is not None and flag["metadata"]["percent"] == 100.0
    # The sample policy allocates eu:us 1:1, so the file carries one fractional rule per region.
    branches = flag["targeting"]["if"]
    assert branches[0] == {"==": [{"var": "region"}, "eu"]}
    assert branches[1] == {"fractional": [["candidate", 10_000], ["baseline", 0]]}
    status, body = await env.api("/api/v1/flags/summer-hero")
    assert status == 200
    assert body["regions"] == {"eu": 100.0, "us": 100.0} and body["allocation"] == {"eu": 0.5, "us": 0.5}
    text = env.thread_text("summer-hero")
    # Steps follow the clock, so a slow run may skip 25% or 50%; 100% is always reached.
    assert "Global traffic → 100%" in text and "eu: 0.5, us: 0.5" in text and "via flagd" in text


async def test_engine_failure_holds_the_ramp_and_says_so(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASEGATE_WEBHOOK_SECRET", HOOK_SECRET)
    # Nothing listens there: every delivery fails, so the ramp must not move.
    await _reboot(env, _with_engines(make_policy(every="0.2s"), tmp_path / "f.json", "http://127.0.0.1:9/x"))
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve", settle=False)
    await wait_until(
        lambda: (
            "traffic step held" in "\n".join(m.text for m in env.thread("summer-hero"))
            or "Could not move" in env.thread_text("summer-hero")
        ),
        timeout=15,
    )
    assert "webhook" in env.thread_text("summer-hero")
    assert (await _state(env))[2] == 0.0  # nothing recorded: the engines never confirmed 5%
    await env.u.slash(SRE, "rollback summer-hero")
    await wait_until(lambda: "rolled back" in env.thread_text("summer-hero"), timeout=15)
    await env.settle()
    assert (await _state(env))[1] == "rolled_back"


async def test_rollback_button_with_confirmation_on_canary_results(env: Env, tmp_path: Path) -> None:
    flags = tmp_path / "flags.json"
    await _reboot(env, _with_engines(make_policy(every="0.2s"), flags))
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    # Preview has no traffic, so no rollback button there.
    assert find_button(_api(env.approval_message("summer-hero", "Preview")), "rollback") is None
    canary = env.approval_message("summer-hero", "Canary")
    button = next(
        e
        for b in canary.blocks or []
        if b.get("type") == "actions"
        for e in b["elements"]
        if e.get("action_id") == "rollback"
    )
    assert button["style"] == "danger" and button["confirm"]["confirm"]["text"] == "Roll back"
    assert "0%" in button["confirm"]["text"]["text"]
    await env.press(STRANGER, canary, "rollback")
    assert "Only the Canary owners" in env.ephemeral_text(STRANGER)
    assert (await _state(env))[1] == "awaiting"
    await env.press(SRE, canary, "rollback")
    assert await _state(env) == ("canary", "rolled_back", 0.0)
    assert FlagdFile(flags).percent("summer-hero") == 0.0
    assert "rolled back" in env.thread_text("summer-hero") and "Rollback button" in env.thread_text("summer-hero")
    # An old message cannot roll back a new attempt of the same name.
    await env.start("summer-hero")
    await env.press(SRE, canary, "rollback")
    assert "belongs to an attempt of *summer-hero* that has ended" in env.ephemeral_text(SRE)
    latest = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert latest is not None and latest.attempt == 2 and latest.state == "awaiting"
    env.standin.assert_no_rejections()  # the confirm dialog is valid Block Kit
