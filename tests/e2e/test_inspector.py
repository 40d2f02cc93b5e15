"""Inspector access rules over HTTP, exports, and the final report built from a real release."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.parse

from sqlalchemy import text as sqltext

from bot.artifacts.report import collect_report, render_report, render_summary, write_report
from bot.http.inspector import make_login_link
from bot.http.inspector.auth import COOKIE
from storage.audit import verify_chain
from tests.e2e.harness import API_TOKEN, PRODUCT, REVIEWER, SRE_MEMBER, Env

SECRET = "inspector-test-secret"


async def _run(env: Env) -> None:
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await env.press(SRE_MEMBER, env.approval_message("summer-hero", "Canary"), "approve")
    await env.decide_in_modal(
        PRODUCT, env.approval_message("summer-hero", "Global"), "approve_with_comment", "=cmd|' /C calc'!A0 <!channel>"
    )


async def test_access_exports_and_csrf(env: Env) -> None:
    await _run(env)
    assert env.bot is not None
    env.bot.settings.session_secret = SECRET
    s = env.session
    bearer = {"Authorization": f"Bearer {API_TOKEN}"}
    paths = ("/inspector", "/inspector/releases/summer-hero", "/inspector/export.jsonl", "/inspector/cas/" + "a" * 64)
    for path in paths:
        async with s.get(env.base + path) as r:
            assert r.status == 401, path
        async with s.get(env.base + path, headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401, path
    async with s.get(env.base + "/inspector/releases/summer-hero", headers=bearer) as r:
        assert r.status == 200
        page = await r.text()
        assert r.headers["X-Frame-Options"] == "DENY" and "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert 'data-phase="global"' in page and "intact" in page
    assert "&lt;!channel&gt;" in page and "<!channel>" not in page

    async with s.get(env.base + "/inspector/export.jsonl", headers=bearer) as r:
        lines = [json.loads(x) for x in (await r.text()).splitlines()]
    after = await env.bot.store.audit_entries()
    # The export is itself recorded, after the entries it returned.
    assert lines == after[: len(lines)] and verify_chain(after) is None
    assert after[-1]["action"] == "inspector.export" and after[-1]["detail"]["entries"] == len(lines)
    async with s.get(env.base + "/inspector/export.csv?release=summer-hero", headers=bearer) as r:
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert rows and all(x["release_name"] == "summer-hero" for x in rows)
    comment_row = next(x for x in rows if x["action"] == "decision.approve" and x["phase"] == "global")
    assert not comment_row["detail"].startswith("=")

    # A link signed for one user cannot be edited into another user's.
    link = make_login_link(env.bot.settings, REVIEWER, 60)
    async with s.get(env.base + link.replace(REVIEWER, PRODUCT), allow_redirects=False) as r:
        assert r.status == 403
    fields = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(link).query))
    # Opening the link (as an unfurler or a mail scanner would) only shows a button and spends nothing.
    for _ in range(2):
        async with s.get(env.base + link, allow_redirects=False) as r:
            assert r.status == 200 and COOKIE not in r.cookies
            assert f"Sign in as {REVIEWER}" in await r.text()
    async with s.post(env.base + "/inspector/login", data={**fields, "u": PRODUCT}, allow_redirects=False) as r:
        assert r.status == 403 and COOKIE not in r.cookies
    # Posted from another site's page (login CSRF): refused, and the link is not spent by it.
    async with s.post(
        env.base + "/inspector/login", data=fields, allow_redirects=False, headers={"Sec-Fetch-Site": "cross-site"}
    ) as r:
        assert r.status == 403 and COOKIE not in r.cookies
    async with s.post(env.base + "/inspector/login", data=fields, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/inspector"
        cookie = r.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    # The link works once: whoever finds it in the DM afterwards gets nothing.
    async with s.post(env.base + "/inspector/login", data=fields, allow_redirects=False) as r:
        assert r.status == 403 and COOKIE not in r.cookies
        assert "already used" in await r.text()
    async with env.bot.store.sessions() as db:
        used = (await db.execute(sqltext("SELECT user_id, digest FROM inspector_links_used"))).all()
    assert [u for u, _ in used] == [REVIEWER] and fields["sig"] not in used[0][1]
    jar = {COOKIE: cookie.value}
    async with s.get(env.base + "/inspector", cookies=jar) as r:
        assert r.status == 200
        index = await r.text()
    assert f"signed in as {REVIEWER}" in index
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', index)
    assert token is not None
    async with s.post(env.base + "/inspector/logout", cookies=jar, data={"csrf": "0" * 64}) as r:
        assert r.status == 403
    async with s.post(env.base + "/inspector/logout", cookies=jar, data={}) as r:
        assert r.status == 403
    async with s.post(env.base + "/inspector/logout", cookies=jar, data={"csrf": token.group(1)}) as r:
        assert r.status == 200 and r.cookies[COOKIE].value == ""
    # Signing out ends the session server-side: a copy of the cookie kept elsewhere opens nothing.
    async with s.get(env.base + "/inspector", cookies=jar) as r:
        assert r.status == 401
    async with env.bot.store.sessions() as db:
        rows = (await db.execute(sqltext("SELECT id_hash, user_id, ended_at FROM inspector_sessions"))).all()
    assert len(rows) == 1 and rows[0][1] == REVIEWER and rows[0][2] is not None
    assert cookie.value.split("|")[2] not in rows[0][0]  # only the hash of the session id is stored


async def test_final_report_is_self_contained(env: Env) -> None:
    await _run(env)
    assert env.bot is not None
    data = await collect_report(env.bot.store, env.bot.lifecycle.artifacts_dir, "summer-hero")
    assert [(r.phase, r.outcome) for r in data.runs] == [
        ("preview", "approved"),
        ("canary", "approved"),
        ("global", "approved"),
    ]
    assert [r.decision["by"] for r in data.runs if r.decision] == [REVIEWER, SRE_MEMBER, PRODUCT]
    assert all(r.decision and len(r.decision["evidence"]) == 64 for r in data.runs)
    html = render_report(data)
    assert html.count("data:image/png;base64,") >= 1
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must not fetch anything"
    assert "&lt;!channel&gt;" in html and "<!channel>" not in html
    md = render_summary(data)
    assert "| Preview (attempt 1, approved) |" in md and f"| {REVIEWER} |" in md.replace("  ", " ")
    assert "&lt;!channel&gt;" in md and "<!channel>" not in md
    assert "audit log intact" in md
    digest, summary = await write_report(env.bot.store, env.bot.lifecycle.artifacts_dir, "summer-hero")
    assert summary.startswith("## Release report: summer-hero — completed")
    assert (env.bot.lifecycle.artifacts_dir / "cas" / digest).read_text(encoding="utf-8").startswith("<!doctype html>")


async def test_odd_signatures_and_expiries_are_refused_not_crashed_on(env: Env) -> None:
    env.bot.settings.session_secret = SECRET  # type: ignore[union-attr]
    s = env.session
    good = urllib.parse.parse_qs(urllib.parse.urlparse(make_login_link(env.bot.settings, REVIEWER)).query)  # type: ignore[arg-type, union-attr]
    fields = {k: v[0] for k, v in good.items()}
    for bad in ({"sig": "é" * 10}, {"sig": "\u2028"}, {"exp": "²"}, {"exp": "١٢٣٤٥٦٧٨٩٠١"}):
        q = urllib.parse.urlencode({**fields, **bad})
        async with s.get(f"{env.base}/inspector/login?{q}") as r:
            assert r.status == 403, (bad, r.status)
        async with s.post(f"{env.base}/inspector/login", data={**fields, **bad}) as r:
            assert r.status == 403, (bad, r.status)
    for cookie in (f"{REVIEWER}|9999999999|é", f"{REVIEWER}|²|abc", "a|b|c|d"):
        async with s.get(f"{env.base}/inspector", headers={"Cookie": f"{COOKIE}={urllib.parse.quote(cookie)}"}) as r:
            assert r.status == 401, (cookie, r.status)
    async with s.get(f"{env.base}/inspector", headers={"Authorization": "Bearer é"}) as r:
        assert r.status == 401
