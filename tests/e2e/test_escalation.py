"""SLA escalation with second-long SLAs: backups DMed after one SLA, paused after two."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.e2e.harness import BACKUP, CHANNEL, REQUESTER, REVIEWER, Env, make_policy, wait_until


async def _short_sla(env: Env, sla: str = "1s") -> None:
    await env.shutdown()
    env.policy = make_policy(sla=sla)
    env.extra_settings["RELEASEGATE_TICK_SECONDS"] = "0.1"
    await env.boot()


async def _timer_states(env: Env) -> list[tuple[str, str]]:
    async with env.bot.store.sessions() as s:  # type: ignore[union-attr]
        rows = (await s.execute(text("SELECT kind, state FROM timers ORDER BY id"))).all()
    return [(r[0], r[1]) for r in rows]


async def test_backup_is_dmed_then_release_pauses_then_resume_and_backup_decides(env: Env) -> None:
    # Long enough that the clicks after the resume land well inside the restarted clock.
    await _short_sla(env, sla="1.5s")
    await env.start("summer-hero")
    await wait_until(lambda: "escalated to" in env.thread_text("summer-hero"), timeout=20)
    await wait_until(lambda: bool(env.standin.dms(BACKUP)), timeout=20)  # sent beside the thread note
    dm = env.standin.dms(BACKUP)[0]
    assert "backup approver" in dm.rendered and "Approve" in dm.rendered
    assert f"escalated to <@{BACKUP}>" in env.thread_text("summer-hero")
    # Second SLA: paused, owners told.
    await wait_until(lambda: "*Paused*" in env.thread_text("summer-hero"), timeout=20)
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "paused"
    await wait_until(lambda: any("is paused" in m.rendered for m in env.standin.dms(REVIEWER)), timeout=20)
    # Resume by an owner: the same request is open again with a fresh clock.
    await env.u.slash(REVIEWER, "resume summer-hero")
    await env.settle()
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "awaiting"
    # The backup decides from the DM; thread and DM are both rewritten.
    dm = env.standin.dms(BACKUP)[0]
    await env.press(BACKUP, dm, "approve")
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.phase == "canary"
    assert f"Approved by <@{BACKUP}>" in env.approval_message("summer-hero", "Preview").rendered
    assert "Approved by" in env.standin.dms(BACKUP)[0].rendered
    entries = [e["action"] for e in await env.bot.store.audit_entries("summer-hero")]  # type: ignore[union-attr]
    assert entries.count("sla.escalate") == 1 and entries.count("sla.pause") == 1


async def test_decision_before_the_sla_cancels_every_timer(env: Env) -> None:
    await _short_sla(env, sla="2s")
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await asyncio.sleep(2.5)
    assert env.standin.dms(BACKUP) == []
    assert "No Preview decision" not in env.thread_text("summer-hero")
    states = await _timer_states(env)
    assert states[0] == ("sla.escalate", "cancelled")
    # The Canary request got its own clock, which ran out and resolved the SRE group to its member.
    assert "No Canary decision within 2s: escalated to <@U0SREMEMB1>" in env.thread_text("summer-hero")


async def test_requester_who_is_a_backup_is_not_asked(env: Env) -> None:
    await _short_sla(env)
    await env.start("summer-hero", user=BACKUP)
    await wait_until(lambda: "escalated to" in env.thread_text("summer-hero"), timeout=20)
    assert env.standin.dms(BACKUP) == [] or all("backup approver" not in m.rendered for m in env.standin.dms(BACKUP))
    assert "escalated to nobody" in env.thread_text("summer-hero")
    assert REQUESTER and CHANNEL


async def test_a_resumed_request_that_waits_again_escalates_again(env: Env) -> None:
    await _short_sla(env, sla="1s")
    await env.start("summer-hero")
    await wait_until(lambda: "*Paused*" in env.thread_text("summer-hero"), timeout=20)
    await env.u.slash(REVIEWER, "resume summer-hero")
    # Nobody answers the restarted clock either: the backup hears about it a second time, not silence.
    await wait_until(lambda: env.thread_text("summer-hero").count("escalated to") == 2, timeout=20)
    await wait_until(lambda: len([m for m in env.standin.dms(BACKUP) if "backup approver" in m.rendered]) == 2, 20)
    await wait_until(lambda: env.thread_text("summer-hero").count("*Paused*") == 2, timeout=20)
    await env.u.slash(REVIEWER, "resume summer-hero")
    await env.settle()
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    # Both escalation DMs are rewritten with the decision, so neither invites a stale click.
    asks = [m for m in env.standin.dms(BACKUP) if "needs a decision" in (m.text or "") or "Approved by" in m.rendered]
    assert len(asks) == 2 and all("Approved by" in m.rendered for m in asks), [m.rendered for m in asks]
    entries = [e["action"] for e in await env.bot.store.audit_entries("summer-hero")]  # type: ignore[union-attr]
    assert entries.count("sla.escalate") == 2 and entries.count("sla.pause") == 2
