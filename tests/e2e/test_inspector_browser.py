"""The inspector in a real headless Chromium (Debian's, driven by Playwright): a signed link signs
in and the release page shows the timeline; a link without a valid signature is refused.

Chromium comes from `.ci/run` (apt). If it is missing this test fails rather than skips: the
browser check is part of the acceptance criteria.
"""

from __future__ import annotations

from playwright.async_api import async_playwright

from bot.http.inspector import make_login_link
from tests.e2e.harness import PRODUCT, REVIEWER, SRE_MEMBER, Env

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def _run_release(env: Env) -> None:
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await env.press(SRE_MEMBER, env.approval_message("summer-hero", "Canary"), "approve")
    await env.decide_in_modal(
        PRODUCT, env.approval_message("summer-hero", "Global"), "approve_with_comment", "Ship it <b>now</b>"
    )


async def test_signed_link_shows_the_release_timeline_and_bad_links_are_refused(env: Env) -> None:
    await _run_release(env)
    assert env.bot is not None
    env.bot.settings.session_secret = "inspector-browser-test-secret"
    good = env.base + make_login_link(env.bot.settings, REVIEWER, 300)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(good)
            assert await page.context.cookies() == []  # opening the link alone signs nobody in
            await page.click("#sign-in button")
            await page.wait_for_url(f"{env.base}/inspector", timeout=10_000)
            cookies = await page.context.cookies()
            session = next(c for c in cookies if c["name"] == "rg_inspector")
            assert session["httpOnly"] and session["sameSite"] == "Lax"
            assert "intact" in await page.locator("#audit-status").inner_text()
            await page.click("#releases >> text=summer-hero")
            await page.wait_for_url(f"{env.base}/inspector/releases/summer-hero")
            items = page.locator("#timeline li")
            assert await items.count() == 3
            assert [await items.nth(i).get_attribute("data-phase") for i in range(3)] == ["preview", "canary", "global"]
            timeline = await page.locator("#timeline").inner_text()
            assert f"approved by {REVIEWER}" in timeline and f"approved by {PRODUCT}" in timeline
            # The comment is shown as text, not as markup.
            assert "Ship it <b>now</b>" in timeline
            assert await page.locator("#timeline b:text('now')").count() == 0
            # Thumbnails come from the content store and actually decode in the browser.
            widths = await page.eval_on_selector_all("img.thumb", "imgs => imgs.map(i => i.naturalWidth)")
            assert widths and all(w > 0 for w in widths)
            assert await page.locator("text=(hash verified)").count() == 3

            # A fresh browser with a tampered signature, an expired link, or no link at all gets nothing.
            other = await (await browser.new_context()).new_page()
            forged = good.replace("sig=", "sig=0")
            resp = await other.goto(forged)
            assert resp is not None and resp.status == 403
            assert "invalid or has expired" in await other.inner_text("body")
            # The link that signed the first browser in is spent.
            await other.goto(good)
            await other.click("#sign-in button")
            assert "already used" in await other.inner_text("body")
            assert await other.context.cookies() == []
            expired = env.base + make_login_link(env.bot.settings, REVIEWER, -1)
            resp = await other.goto(expired)
            assert resp is not None and resp.status == 403
            resp = await other.goto(f"{env.base}/inspector/releases/summer-hero")
            assert resp is not None and resp.status == 401
            assert "summer-hero" not in await other.inner_text("main")
            assert await other.context.cookies() == []
        finally:
            await browser.close()
