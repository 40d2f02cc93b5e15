"""A release from `/release start` to completed, over real HTTP with signed requests."""

from __future__ import annotations

from tests.e2e.harness import CHANNEL, PRODUCT, REQUESTER, REVIEWER, SRE, SRE_MEMBER, Env


async def test_release_runs_through_all_three_phases(env: Env) -> None:
    await env.start("summer-hero")
    root = env.root("summer-hero")
    assert "Summer campaign hero images" in root.rendered
    assert "hero-desktop" in root.rendered and "Preview" in root.rendered and "Global" in root.rendered

    thread = env.thread_text("summer-hero")
    assert "Preview started" in thread
    preview = env.approval_message("summer-hero", "Preview")
    assert f"<@{REVIEWER}>" in preview.rendered
    assert "image_budget" in preview.rendered and "threshold" in preview.rendered

    await env.press(REVIEWER, preview, "approve")
    preview_after = env.approval_message("summer-hero", "Preview")
    assert "Approved by" in preview_after.rendered and f"<@{REVIEWER}>" in preview_after.rendered
    assert not any(b.get("type") == "actions" for b in preview_after.blocks or [])
    assert "Preview finished" in env.thread_text("summer-hero")
    assert "Canary started" in env.thread_text("summer-hero")

    canary = env.approval_message("summer-hero", "Canary")
    # A member of the SRE user group may decide for the group.
    await env.press(SRE_MEMBER, canary, "approve")
    assert "Global started" in env.thread_text("summer-hero")
    glob = env.approval_message("summer-hero", "Global")
    await env.decide_in_modal(PRODUCT, glob, "approve_with_comment", "Ship it, numbers look good")

    text = env.thread_text("summer-hero")
    assert "live everywhere" in text
    assert "Ship it, numbers look good" in text
    assert "completed" in env.root("summer-hero").rendered
    assert env.root("summer-hero").edits, "root message was never updated"

    status, body = await env.api("/api/v1/releases/summer-hero")
    assert status == 200
    assert body["state"] == "completed" and body["phase"] == "global"
    assert [(d["phase"], d["decision"], d["by"]) for d in body["decisions"]] == [
        ("preview", "approve", REVIEWER),
        ("canary", "approve", SRE_MEMBER),
        ("global", "approve", PRODUCT),
    ]
    assert body["decisions"][2]["comment"] == "Ship it, numbers look good"
    assert any(g["gate"] == "image_budget" for g in body["phases"][0]["gates"])
    env.standin.assert_no_rejections()
    assert SRE  # primary SRE is mentioned on the canary request
    assert REQUESTER not in [d["by"] for d in body["decisions"]]
    assert env.standin.messages(CHANNEL)


async def test_completion_posts_a_report_and_schedules_the_review(env: Env) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await env.press(SRE, env.approval_message("summer-hero", "Canary"), "approve")
    await env.press(PRODUCT, env.approval_message("summer-hero", "Global"), "approve")
    text_ = env.thread_text("summer-hero")
    assert "Release report: summer-hero — completed" in text_
    html = [f for f in env.standin.files.values() if f.name == "summer-hero-report.html"]
    assert html and b"<html" in html[0].content.lower()
    async with env.bot.store.sessions() as s:  # type: ignore[union-attr]
        row = (await s.execute(text("SELECT kind, state, due_at FROM timers WHERE kind = 'report.review'"))).one()
    due = row[2] if isinstance(row[2], datetime) else datetime.fromisoformat(str(row[2]))
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    assert row[1] == "pending" and timedelta(hours=23) < due - datetime.now(UTC) <= timedelta(hours=24)
    # When it comes due, the review template lands in the thread.
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    await env.bot.store.schedule_timer("report.review", rel.id, datetime.now(UTC), key="review-now")  # type: ignore[union-attr]
    await env.bot.timers.tick()  # type: ignore[union-attr]
    assert "24-hour review" in env.thread_text("summer-hero")


async def test_inspector_link_is_sent_by_dm(env: Env) -> None:
    await env.u.slash(REVIEWER, "inspector")
    await env.settle()
    assert "not enabled" in env.ephemeral_text(REVIEWER)
    await env.shutdown()
    env.extra_settings["RELEASEGATE_SESSION_SECRET"] = "s3cret-for-tests"
    await env.boot()
    await env.u.slash(REVIEWER, "inspector")
    await env.settle()
    dm = "\n".join(m.rendered for m in env.standin.dms(REVIEWER))
    assert "/inspector/login?u=U0REVIEWER" in dm and "sig=" in dm
    assert "sent you a sign-in link" in env.ephemeral_text(REVIEWER)
