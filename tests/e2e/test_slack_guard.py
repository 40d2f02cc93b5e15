"""Over real HTTP: odd or oversized unsigned requests to /slack/events get a 4xx and one short log line."""

from __future__ import annotations

import logging
import time

import pytest

from tests.e2e.harness import REQUESTER, Env


async def test_a_malformed_timestamp_or_signature_is_401_not_500(env: Env) -> None:
    form = env.u.slash_form(REQUESTER, "list")
    for headers in (
        {"X-Slack-Request-Timestamp": "abc"},
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "é" * 64},
        {"X-Slack-Signature": "garbage"},
    ):
        ans = await env.u.send_form(form, headers=headers)
        assert ans.status == 401, (headers, ans.status, ans.text)
    ans = await env.u.send_form(form)  # the same form, signed: still works
    assert ans.status == 200


async def test_an_oversized_unsigned_body_is_refused_before_it_is_read_or_logged(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = b"A" * (3 * 1024 * 1024)
    async with env.session.post(
        f"{env.base}/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 413
    small = b"token=x&text=" + b"B" * 5000
    async with env.session.post(
        f"{env.base}/slack/events", data=small, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 401
    longest = max(len(rec.getMessage()) for rec in caplog.records)
    assert longest < 500, longest  # no body in the log, only its size and a hash
    assert not any("AAAA" in rec.getMessage() or "BBBB" in rec.getMessage() for rec in caplog.records)


async def test_a_replayed_signed_command_runs_once(env: Env) -> None:
    import time as _time

    from bot.demo.simulated_users import sign

    form = env.u.slash_form(REQUESTER, "start summer-hero", env.channel)
    from urllib.parse import urlencode

    ts = str(int(_time.time()))
    sig = sign(env.u.secret, ts, urlencode(form))
    first = await env.u.send_form(form, timestamp=int(ts), signature=sig)
    replay = await env.u.send_form(form, timestamp=int(ts), signature=sig)
    await env.settle()
    assert first.status == 200 and replay.status == 200
    releases = [r for r in await env.bot.store.list_releases() if r.name == "summer-hero"]
    assert len(releases) == 1
    assert "already in progress" not in env.ephemeral_text(REQUESTER)  # the copy did not run at all


async def test_healthz_reports_the_event_loop_longest_stall(env: Env) -> None:
    async with env.session.get(f"{env.base}/healthz") as r:
        assert r.status == 200
        loop = (await r.json())["loop"]
    assert set(loop) == {"max_stall_ms", "stalls_over_100ms"} and loop["max_stall_ms"] >= 0
