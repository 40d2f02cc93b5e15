"""Canary and Global with real-user metrics ingested over the HTTP API while the bot runs."""

from __future__ import annotations

import asyncio

from bot.drill.traffic_sim import rum_batch
from tests.e2e.harness import REVIEWER, SRE, Env, make_policy


async def _with_traffic_gates(env: Env) -> None:
    await env.shutdown()
    env.policy = make_policy(
        every="0.4s",
        observe="1s",
        min_samples="300",
        canary_gates="{lcp_p75: {max_increase_ms: 150}, inp_p75: {max_increase_ms: 50}, "
        "error_budget: {max_rate: 0.005}, cache_hit: {min_rate: 0.9}}",
        global_gates="{regional_error_rate: {max_rate: 0.01}}",
    )
    await env.boot()


async def _feed(env: Env, name: str, *, lcp_shift: float, seed: int, batches: int = 3) -> None:
    for i in range(batches):
        status, body = await env.post_metrics(rum_batch(name, n_per_arm=500, lcp_shift=lcp_shift, seed=seed + i))
        assert status == 202 and body["rejected"] == [], body
        await asyncio.sleep(0.2)


async def test_canary_passes_with_charts_then_a_regression_rolls_back(env: Env) -> None:
    await _with_traffic_gates(env)
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve", settle=False)
    await _feed(env, "summer-hero", lcp_shift=1.0, seed=1)
    await env.settle()
    canary = env.approval_message("summer-hero", "Canary")
    assert "Canary gates: PASS" in canary.rendered
    for gate in ("lcp_p75", "inp_p75", "error_budget", "cache_hit"):
        assert gate in canary.rendered
    names = {f.name for f in env.standin.files.values()}
    assert {"summer-hero-lcp-p75.png", "summer-hero-distributions.png", "summer-hero-errors-by-region.png"} <= names
    text = env.thread_text("summer-hero")
    assert "Canary traffic → 5%" in text and "Canary traffic → 10%" in text
    _, flags = await env.api("/api/v1/flags/summer-hero")
    assert flags["percent"] == 10 and flags["phase"] == "canary"

    # A second release whose candidate is 40% slower rolls back by itself.
    from bot.drill.samples import summer_hero

    summer_hero(env.releases, "autumn-hero")
    await env.start("autumn-hero")
    await env.press(REVIEWER, env.approval_message("autumn-hero", "Preview"), "approve", settle=False)
    await _feed(env, "autumn-hero", lcp_shift=1.4, seed=7)
    await env.settle()
    rolled = env.thread_text("autumn-hero")
    assert "Canary rolled back" in rolled and "lcp_p75" in rolled and "threshold 150 ms" in rolled
    assert f"<@{SRE}>" in rolled
    status, body = await env.api("/api/v1/releases/autumn-hero")
    assert status == 200 and body["state"] == "rolled_back" and body["traffic_percent"] == 0
    lcp = next(g for g in body["phases"][-1]["gates"] if g["gate"] == "lcp_p75")
    assert lcp["status"] == "fail"
    ev = lcp["evidence"]
    assert ev["n_canary"] >= 300 and ev["n_baseline"] >= 300 and "seed" in ev
    env.standin.assert_no_rejections()


async def test_canary_without_enough_samples_never_passes(env: Env) -> None:
    await _with_traffic_gates(env)
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve", settle=False)
    status, _ = await env.post_metrics(rum_batch("summer-hero", n_per_arm=50, seed=3))
    assert status == 202
    await asyncio.sleep(2.0)
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.phase == "canary" and rel.state == "running"
    assert "Canary gates:" not in env.thread_text("summer-hero")


async def test_inconclusive_canary_asks_the_owner_at_the_sla(env: Env) -> None:
    from tests.e2e.harness import STRANGER, wait_until

    await env.shutdown()
    env.policy = make_policy(
        sla="1.5s",
        every="0.3s",
        observe="1s",
        min_samples="300",
        canary_gates="{lcp_p75: {max_increase_ms: 150}}",
        global_gates="{}",
    )
    env.extra_settings["RELEASEGATE_TICK_SECONDS"] = "0.1"
    await env.boot()
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve", settle=False)
    await env.post_metrics(rum_batch("summer-hero", n_per_arm=40, seed=5))  # far below min_samples

    def prompts() -> int:
        return sum("Canary is still inconclusive" in m.rendered for m in env.thread("summer-hero"))

    await wait_until(lambda: prompts() == 1, timeout=20)
    prompt = env.last_with("summer-hero", "extend_observation")
    assert "lcp_p75" in prompt.rendered and f"<@{SRE}>" in prompt.rendered
    # The open gates come from the database, so any replica firing the SLA timer can list them.
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    run = await env.bot.store.current_run(rel.id or 0)  # type: ignore[union-attr]
    assert run is not None and {(r["gate"], r["status"]) for r in run.latest_results} >= {("lcp_p75", "inconclusive")}
    await env.press(STRANGER, prompt, "extend_observation", settle=False)
    await wait_until(lambda: "Only the Canary owners can extend" in env.ephemeral_text(STRANGER), timeout=10)
    await env.press(SRE, prompt, "extend_observation", settle=False)
    await wait_until(lambda: "Observation extended by" in env.thread_text("summer-hero"), timeout=10)
    await wait_until(lambda: prompts() == 2, timeout=20)  # asked again one SLA later
    await env.press(SRE, env.last_with("summer-hero", "extend_observation"), "rollback", settle=False)
    await wait_until(lambda: "Canary rolled back" in env.thread_text("summer-hero"), timeout=20)
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "rolled_back" and rel.traffic_percent == 0
