"""Who may do what, as Slack users see it: four-eyes in every phase, `requesters`, `auditors`."""

from __future__ import annotations

import urllib.parse

from bot.http.inspector import make_login_link
from bot.http.inspector.auth import COOKIE
from gates.policy import Policy
from tests.e2e.harness import (
    PRODUCT,
    PRODUCT_BACKUP,
    REQUESTER,
    REVIEWER,
    SRE,
    SRE_GROUP,
    SRE_MEMBER,
    STRANGER,
    Env,
)

SECRET = "access-test-secret"


async def _reboot(env: Env, policy: Policy, *, inspector: bool = False) -> None:
    await env.shutdown()
    env.policy = policy
    if inspector:
        env.extra_settings["RELEASEGATE_SESSION_SECRET"] = SECRET
    await env.boot()


def _with(policy: Policy, **access: list[str]) -> Policy:
    return Policy.model_validate({**policy.to_dict(), **access})


async def _refusals(env: Env, action: str) -> list[dict[str, object]]:
    assert env.bot is not None
    return [e for e in await env.bot.store.audit_entries() if e["action"] == action and e["outcome"] == "refused"]


async def test_requester_cannot_approve_own_canary(env: Env) -> None:
    # The SRE starts the release and is also the Canary's primary owner: someone else must approve it.
    await env.start("summer-hero", user=SRE)
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    canary = env.approval_message("summer-hero", "Canary")
    await env.press(SRE, canary, "approve")
    assert "someone else must approve its Canary (four-eyes rule)" in env.ephemeral_text(SRE)
    assert env.bot is not None
    rel = await env.bot.store.latest_release("summer-hero")
    assert rel is not None and (rel.phase, rel.state) == ("canary", "awaiting")
    assert "Approved by" not in env.approval_message("summer-hero", "Canary").rendered
    refused = await _refusals(env, "decision.approve")
    assert refused[-1]["actor"] == SRE and refused[-1]["detail"]["why"] == "four-eyes"  # type: ignore[index]
    # A member of the SRE group (the backup) may.
    await env.press(SRE_MEMBER, env.approval_message("summer-hero", "Canary"), "approve")
    assert "Global started" in env.thread_text("summer-hero")


async def test_requester_cannot_approve_own_global(env: Env) -> None:
    await env.start("summer-hero", user=PRODUCT)
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await env.press(SRE, env.approval_message("summer-hero", "Canary"), "approve")
    await env.press(PRODUCT, env.approval_message("summer-hero", "Global"), "approve")
    assert "someone else must approve its Global (four-eyes rule)" in env.ephemeral_text(PRODUCT)
    assert env.bot is not None
    rel = await env.bot.store.latest_release("summer-hero")
    assert rel is not None and (rel.phase, rel.state) == ("global", "awaiting")
    await env.press(PRODUCT_BACKUP, env.approval_message("summer-hero", "Global"), "approve")
    rel = await env.bot.store.latest_release("summer-hero")
    assert rel is not None and rel.state == "completed"
    decisions = await env.bot.store.decisions(rel.id or 0)
    assert PRODUCT not in [d.by for d in decisions]


async def test_only_requesters_may_start_when_the_policy_names_them(env: Env) -> None:
    await _reboot(env, _with(env.policy, requesters=[REQUESTER, SRE_GROUP]))
    await env.start("summer-hero", user=STRANGER)
    said = env.ephemeral_text(STRANGER)
    assert "not allowed to start releases" in said and "to `requesters` in policy.yml" in said
    assert env.bot is not None
    assert await env.bot.store.latest_release("summer-hero") is None
    assert not env.standin.messages(env.channel)  # nothing was posted in the channel
    refused = await _refusals(env, "release.start")
    assert [(e["actor"], e["detail"]) for e in refused] == [
        (STRANGER, {"release": "summer-hero", "why": "not a requester"})
    ]
    # Named users and members of named groups may.
    await env.start("summer-hero", user=SRE_MEMBER)
    rel = await env.bot.store.latest_release("summer-hero")
    assert rel is not None and rel.requested_by == SRE_MEMBER


async def test_anyone_may_start_without_requesters(env: Env) -> None:
    assert env.policy.requesters is None
    await env.start("summer-hero", user=STRANGER)
    assert env.bot is not None
    rel = await env.bot.store.latest_release("summer-hero")
    assert rel is not None and rel.requested_by == STRANGER


async def test_inspector_links_go_to_owners_by_default(env: Env) -> None:
    await _reboot(env, env.policy, inspector=True)
    await env.u.slash(STRANGER, "inspector")
    await env.settle()
    assert env.standin.dms(STRANGER) == []
    said = env.ephemeral_text(STRANGER)
    assert "not allowed to open the Audit Inspector" in said and "`auditors` in policy.yml" in said
    assert "only phase owners" in said
    assert [e["actor"] for e in await _refusals(env, "inspector.link")] == [STRANGER]
    # A backup owner of any phase is an auditor by default (here through the SRE user group).
    await env.u.slash(SRE_MEMBER, "inspector")
    await env.settle()
    assert "/inspector/login?u=U0SREMEMB1" in "\n".join(m.rendered for m in env.standin.dms(SRE_MEMBER))
    # The link is a credential: it never sits in the outbox table, where a database reader could use it.
    from sqlalchemy import text as sqltext

    async with env.bot.store.sessions() as db:
        args = [str(a) for (a,) in (await db.execute(sqltext("SELECT args FROM outbox"))).all()]
    assert not any("/inspector/login" in a for a in args)


async def test_auditors_list_decides_who_gets_a_link_and_signs_in(env: Env) -> None:
    await _reboot(env, _with(env.policy, auditors=[STRANGER]), inspector=True)
    await env.u.slash(STRANGER, "inspector")
    await env.u.slash(REVIEWER, "inspector")  # an owner, but not on the auditors list
    await env.settle()
    assert "/inspector/login?u=U0STRANGER" in "\n".join(m.rendered for m in env.standin.dms(STRANGER))
    assert env.standin.dms(REVIEWER) == []
    assert "not allowed to open the Audit Inspector" in env.ephemeral_text(REVIEWER)

    # A link made for a non-auditor (say, before the policy changed) does not sign them in.
    assert env.bot is not None
    for user, status in ((REVIEWER, 403), (STRANGER, 303)):
        link = make_login_link(env.bot.settings, user, 60)
        fields = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
        async with env.session.post(env.base + "/inspector/login", data=fields, allow_redirects=False) as r:
            assert r.status == status, user
            assert (COOKIE in r.cookies) == (status == 303)
            if status == 403:
                assert "auditors" in await r.text()
    assert [e["actor"] for e in await _refusals(env, "inspector.login")] == [REVIEWER]
