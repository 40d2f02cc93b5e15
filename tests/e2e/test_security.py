"""Forged and stale requests, strangers, four-eyes, double clicks, races, injection, bad bundles."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import yaml
from slack_sdk.signature import SignatureVerifier

from bot.demo.simulated_users import find_button, sign
from bot.drill.samples import encode, photo, write_bundle
from tests.e2e.harness import CHANNEL, REQUESTER, REVIEWER, STRANGER, Env, _api

DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TS = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class _At:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_slack_documented_signing_vector() -> None:
    assert sign(DOC_SECRET, DOC_TS, DOC_BODY) == DOC_SIG
    verifier = SignatureVerifier(DOC_SECRET, clock=_At(int(DOC_TS) + 60))  # type: ignore[arg-type]
    assert verifier.is_valid(DOC_BODY, DOC_TS, DOC_SIG)
    assert not verifier.is_valid(DOC_BODY.replace("foobar", "foobaz"), DOC_TS, DOC_SIG)


async def _releases_in_db(env: Env) -> int:
    return len(await env.bot.store.list_releases())  # type: ignore[union-attr]


async def test_forged_and_stale_requests_are_refused(env: Env) -> None:
    form = env.u.slash_form(REQUESTER, "start summer-hero", CHANNEL)
    forged = await env.u.send_form(form, signature="v0=" + "0" * 64)
    assert forged.status == 401
    wrong_secret = await env.u.send_form(form, signature=sign("not-the-secret", str(int(time.time())), "x"))
    assert wrong_secret.status == 401
    stale = await env.u.send_form(form, timestamp=int(time.time()) - 10 * 60)
    assert stale.status == 401
    # Slack's own example request, correctly signed but years old: refused as stale.
    async with env.session.post(
        f"{env.base}/slack/events",
        data=DOC_BODY.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": DOC_TS,
            "X-Slack-Signature": DOC_SIG,
        },
    ) as r:
        assert r.status == 401
    await env.settle()
    assert await _releases_in_db(env) == 0
    assert env.standin.messages(CHANNEL) == []


async def test_stranger_cannot_decide_and_is_audited(env: Env) -> None:
    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    await env.press(STRANGER, preview, "approve")
    assert "Only the Preview owners" in env.ephemeral_text(STRANGER)
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "awaiting" and rel.phase == "preview"
    entries = await env.bot.store.audit_entries("summer-hero")  # type: ignore[union-attr]
    refused = [e for e in entries if e["outcome"] == "refused"]
    assert refused and refused[-1]["actor"] == STRANGER
    assert "Approved by" not in env.approval_message("summer-hero", "Preview").rendered


async def test_requester_cannot_approve_own_preview(env: Env, tmp_path: Path) -> None:
    # The requester is also a Preview owner here; four-eyes still applies.
    await env.start("summer-hero", user=REVIEWER)
    preview = env.approval_message("summer-hero", "Preview")
    await env.press(REVIEWER, preview, "approve")
    assert "four-eyes" in env.ephemeral_text(REVIEWER)
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "awaiting"


async def test_double_click_decides_once(env: Env) -> None:
    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    block_id, value = find_button(_api(preview), "approve")  # type: ignore[misc]
    clicks = [
        env.u.click(
            REVIEWER, channel=CHANNEL, message=_api(preview), action_id="approve", value=value, block_id=block_id
        )
        for _ in range(3)
    ]
    answers = await asyncio.gather(*clicks)
    assert all(a.status == 200 for a in answers)
    await env.settle()
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None
    decisions = await env.bot.store.decisions(rel.id or 0)  # type: ignore[union-attr]
    assert len(decisions) == 1
    assert sum("Canary started" in m.rendered for m in env.thread("summer-hero")) == 1
    assert "Already approved by" in env.ephemeral_text(REVIEWER)


async def test_approve_racing_reject_decides_once(env: Env) -> None:
    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    before = set(env.standin.views)
    await env.press(REVIEWER, preview, "reject")
    view = await env.standin.wait_for(
        lambda: next((v for k, v in env.standin.views.items() if k not in before), None), timeout=5
    )
    block_id, value = find_button(_api(preview), "approve")  # type: ignore[misc]
    approve = env.u.click(
        REVIEWER, channel=CHANNEL, message=_api(preview), action_id="approve", value=value, block_id=block_id
    )
    reject = env.u.submit_view(
        REVIEWER,
        {**view.view, "id": view.id},
        {"reason": {"reason_input": {"type": "plain_text_input", "value": "Wrong crop"}}},
    )
    await asyncio.gather(approve, reject)
    await env.settle()
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    decisions = await env.bot.store.decisions(rel.id or 0)  # type: ignore[union-attr]
    assert len(decisions) == 1
    assert (decisions[0].decision, rel.state) in (("approve", "awaiting"), ("reject", "rejected"))  # type: ignore[union-attr]


async def test_reject_needs_a_reason_and_ends_the_release(env: Env) -> None:
    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    empty = await env.decide_in_modal(REVIEWER, preview, "reject", "  ")
    assert empty.status == 200 and empty.json()["response_action"] == "errors"
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "awaiting"
    await env.decide_in_modal(REVIEWER, preview, "reject", "Hero crop cuts the <!channel> logo")
    rewritten = env.approval_message("summer-hero", "Preview")
    assert "Rejected by" in rewritten.rendered and "Hero crop cuts" in rewritten.rendered
    assert "<!channel>" not in (rewritten.blocks and str(rewritten.blocks))
    assert "was rejected" in env.thread_text("summer-hero")
    rel = await env.bot.store.latest_release("summer-hero")  # type: ignore[union-attr]
    assert rel is not None and rel.state == "rejected"


def _bundle(env: Env, name: str, images: list[dict[str, object]], files: dict[str, bytes], title: str = "Test") -> None:
    write_bundle(env.releases, name, title=title, images=images, files=files)


async def test_path_traversal_is_refused_without_creating_anything(env: Env, tmp_path: Path) -> None:
    png = encode(photo(64, 48, 1), "PNG")
    (env.releases.parent / "secret.png").write_bytes(png)
    _bundle(env, "dotdot", [{"id": "a", "candidate": "../secret.png", "alt": "A hill"}], {})
    await env.start("dotdot")
    assert "'..' would leave the bundle" in env.ephemeral_text(REQUESTER)
    _bundle(env, "abs", [{"id": "a", "candidate": "/etc/passwd", "alt": "A hill"}], {})
    await env.start("abs")
    assert "absolute paths are not allowed" in env.ephemeral_text(REQUESTER)
    _bundle(env, "link", [{"id": "a", "candidate": "candidate/a.png", "alt": "A hill"}], {})
    (env.releases / "link" / "candidate").mkdir()
    os.symlink(env.releases.parent / "secret.png", env.releases / "link" / "candidate" / "a.png")
    await env.start("link")
    assert "resolves outside the bundle" in env.ephemeral_text(REQUESTER)
    await env.start("..")
    assert await _releases_in_db(env) == 0
    assert env.standin.messages(CHANNEL) == []


async def test_mention_injection_reaches_slack_as_text(env: Env) -> None:
    png = encode(photo(64, 48, 1), "PNG")
    _bundle(
        env,
        "inject",
        [{"id": "a", "candidate": "a.png", "alt": "A hill at dawn"}],
        {"a.png": png},
        title="<!channel> free pizza <https://evil.example|click>",
    )
    await env.start("inject")
    root = env.root("inject")
    raw = str(root.blocks)
    assert "<!channel>" not in raw and "<https://evil.example" not in raw
    assert "&lt;!channel&gt;" in raw


async def test_corrupt_image_and_malformed_yaml_name_the_file(env: Env) -> None:
    good = encode(photo(64, 48, 1), "PNG")
    _bundle(env, "corrupt", [{"id": "a", "candidate": "a.png", "alt": "A hill at dawn"}], {"a.png": good[:200]})
    await env.start("corrupt")
    assert "corrupt/a.png: cannot decode" in env.ephemeral_text(REQUESTER)
    (env.releases / "badyaml").mkdir()
    (env.releases / "badyaml" / "release.yml").write_text("title: x\nimages: [\n  - id: a\n   bad")
    await env.start("badyaml")
    assert "badyaml/release.yml: not valid YAML at line" in env.ephemeral_text(REQUESTER)
    _bundle(env, "missing", [{"id": "a", "candidate": "nope.png", "alt": "A hill at dawn"}], {})
    await env.start("missing")
    assert "missing/nope.png: file not found" in env.ephemeral_text(REQUESTER)
    (env.releases / "unknownkey").mkdir()
    (env.releases / "unknownkey" / "release.yml").write_text(
        yaml.safe_dump({"title": "x", "images": [{"id": "a", "candidate": "a.png", "colour": "red"}]})
    )
    await env.start("unknownkey")
    assert "images.0.colour: unknown key" in env.ephemeral_text(REQUESTER)
    assert await _releases_in_db(env) == 0


async def test_enormous_image_is_refused_without_decoding(env: Env) -> None:
    from PIL import Image

    big = Image.new("L", (9000, 9000))  # 81 MP, over the 40 MP default limit
    import io

    buf = io.BytesIO()
    big.save(buf, format="PNG")
    _bundle(env, "huge", [{"id": "a", "candidate": "a.png", "alt": "A plain grey square"}], {"a.png": buf.getvalue()})
    await env.start("huge")
    assert "pixel limit" in env.ephemeral_text(REQUESTER)
    assert await _releases_in_db(env) == 0


async def test_failed_gate_offers_reject_and_rerun_but_never_approve(env: Env) -> None:
    big = encode(photo(1600, 1200, 3), "PNG")  # far over the 300 kB budget
    assert len(big) > 300_000
    _bundle(env, "heavy", [{"id": "a", "candidate": "a.png", "alt": "A hill at dawn"}], {"a.png": big})
    await env.start("heavy")
    msg = env.approval_message("heavy", "Preview")
    assert "FAIL" in msg.rendered and "byte budget" in msg.rendered
    assert find_button(_api(msg), "approve") is None
    assert find_button(_api(msg), "reject") is not None and find_button(_api(msg), "rerun") is not None
    # A hand-made Approve click for the same request is refused by the state machine.
    _, value = find_button(_api(msg), "reject")  # type: ignore[misc]
    await env.u.click(REVIEWER, channel=CHANNEL, message=_api(msg), action_id="approve", value=value)
    await env.settle()
    assert "nobody can approve past a failed gate" in env.ephemeral_text(REVIEWER)
    # Fix the bundle, re-run: now it passes and can be approved.
    (env.releases / "heavy" / "a.png").write_bytes(encode(photo(160, 120, 3), "PNG"))
    await env.press(REVIEWER, msg, "rerun")
    latest = env.approval_message("heavy", "Preview")
    assert "PASS" in latest.rendered and find_button(_api(latest), "approve") is not None
