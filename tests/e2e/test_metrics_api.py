"""POST /api/v1/metrics against the running app: per-item verdicts, auth, limits, storage."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from storage.metrics import MetricsStore
from tests.e2e.harness import API_TOKEN, Env

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def vital(name: str, value: Any, ident: str, cohort: str = "canary", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "id": ident,
        "rating": "good",
        "delta": value,
        "navigationType": "navigate",
        "release": "summer-hero",
        "cohort": cohort,
        "region": "eu",
        "page": "/summer",
        **extra,
    }


async def post(
    env: Env, body: Any, *, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()  # json.dumps writes NaN/Infinity as JS does not
    async with env.session.post(
        f"{env.base}/api/v1/metrics",
        data=data,
        headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)},
    ) as r:
        return r.status, await r.json()


async def stored(env: Env) -> MetricsStore:
    assert env.bot is not None
    return MetricsStore(env.bot.engine)


async def test_mixed_batch_keeps_good_items_and_says_why_for_the_rest(env: Env) -> None:
    await env.start("summer-hero")
    batch: list[Any] = [
        vital("LCP", 1800.5, "v1-a"),  # 0 ok
        vital("INP", 120, "v1-b", cohort="baseline"),  # 1 ok
        vital("LCP", float("nan"), "v1-c"),  # 2 NaN
        vital("LCP", float("inf"), "v1-d"),  # 3 inf
        vital("LCP", -5, "v1-e"),  # 4 negative
        vital("FID", 10, "v1-f"),  # 5 unknown metric
        vital("LCP", 1500, "v1-g", cohort="everyone"),  # 6 wrong cohort
        vital("LCP", 1500, "v1-h", release="no-such-release"),  # 7 unknown release
        {"name": "requests", "value": 40, "release": "summer-hero", "cohort": "canary", "region": "us"},  # 8 ok
        {"name": "errors", "value": 1, "release": "summer-hero", "cohort": "canary", "region": "us"},  # 9 ok
        "not an object",  # 10
        vital("LCP", 2500, "v1-a"),  # 11 ok: re-report of item 0
        {"name": "cache_hit", "value": 2.5, "release": "summer-hero", "cohort": "canary"},  # 12 fractional count
    ]
    status, body = await post(env, {"samples": batch})
    assert status == 202, body
    assert body["received"] == len(batch)
    assert body["accepted"] == 5 and body["superseded"] == 1
    reasons = {r["index"]: (r["field"], r["reason"]) for r in body["rejected"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 10, 12]
    assert reasons[2][0] == "value" and "finite" in reasons[2][1]
    assert reasons[3][0] == "value" and "finite" in reasons[3][1]
    assert reasons[4][0] == "value" and "≥ 0" in reasons[4][1]
    assert reasons[5][0] == "name" and "unknown metric" in reasons[5][1]
    assert reasons[6][0] == "cohort"
    assert reasons[7] == ("release", "unknown release 'no-such-release'")
    assert "JSON object" in reasons[10][1]
    assert "whole number" in reasons[12][1]

    metrics = await stored(env)
    assert await metrics.counts("summer-hero") == {
        "canary": {"LCP": 1, "requests": 1, "errors": 1},
        "baseline": {"INP": 1},
    }
    assert env.bot is not None
    now = env.bot.lifecycle.clock()
    pair = await metrics.cohorts("summer-hero", now - timedelta(hours=1), now + timedelta(hours=1))
    assert pair.canary.values("LCP").tolist() == [2500.0]  # the later report won
    assert pair.baseline.values("INP").tolist() == [120.0]
    assert pair.canary.regions["us"].error_rate == pytest.approx(1 / 40)

    # A bare array works too, and a later batch re-reporting v1-a updates the same row.
    status, body = await post(env, [vital("LCP", 2600, "v1-a")])
    assert status == 202 and body["accepted"] == 1 and body["rejected"] == []
    pair = await metrics.cohorts("summer-hero", now - timedelta(hours=1), now + timedelta(hours=1))
    assert pair.canary.values("LCP").tolist() == [2600.0]


async def test_bearer_token_required(env: Env) -> None:
    status, body = await post(env, [], headers={})
    assert status == 401 and "bearer" in body["error"]
    status, _ = await post(env, [], headers={"Authorization": "Bearer wrong-token"})
    assert status == 401
    status, _ = await post(env, [], headers={"Authorization": API_TOKEN})  # no "Bearer " scheme
    assert status == 401


async def test_limits_and_malformed_bodies(env: Env) -> None:
    await env.start("summer-hero")
    status, body = await post(env, [vital("LCP", 1000, f"x{i}") for i in range(10_001)])
    assert status == 413 and "10,000" in body["error"]
    status, body = await post(env, None, raw=b'[{"name": "LCP", ')
    assert status == 400 and "malformed JSON" in body["error"]
    status, body = await post(env, None, raw=b"")
    assert status == 400
    status, body = await post(env, {"items": []})
    assert status == 400 and "samples" in body["error"]
    status, body = await post(env, {"samples": "LCP"})
    assert status == 400
    # Nothing from the refused batches was stored; exactly 10,000 is allowed.
    assert await (await stored(env)).counts("summer-hero") == {}
    status, body = await post(env, [vital("LCP", 1000 + i, f"y{i}") for i in range(10_000)])
    assert status == 202 and body["accepted"] == 10_000
    assert await (await stored(env)).counts("summer-hero") == {"canary": {"LCP": 10_000}}


async def test_huge_numbers_and_deep_nesting_are_refused_per_item(env: Env) -> None:
    await env.start("summer-hero")
    good = json.dumps(vital("LCP", 2400, "v-good"))
    huge400 = json.dumps(vital("LCP", 1, "v-400")).replace('"value": 1', '"value": ' + "9" * 400)
    huge5000 = json.dumps(vital("LCP", 1, "v-5000")).replace('"value": 1', '"value": ' + "9" * 5000)
    deep = "[" * 5000 + "]" * 5000
    last = json.dumps(vital("LCP", 2500, "v-last"))
    for wrap in ("[{}]", '{{"samples": [{}]}}'):
        raw = wrap.format(",".join([good, huge400, huge5000, deep, last])).encode()
        status, body = await post(env, None, raw=raw)
        assert status == 202, body
        assert body["received"] == 5 and body["accepted"] == 2
        reasons = {r["index"]: r["reason"] for r in body["rejected"]}
        assert "value must be finite" in reasons[1] and "value must be finite" in reasons[2]
        assert reasons[3] == "item is nested deeper than 32 levels"


async def test_an_oversized_body_is_refused_before_it_is_read(env: Env) -> None:
    # Declared size over the cap: 413 at once, without buffering what follows.
    import bot.http.metrics

    big = b"[" + b" " * (bot.http.metrics.MAX_BODY_BYTES + 10) + b"]"
    status, body = await post(env, None, raw=big)
    assert status == 413 and "samples per request" in body["error"]
