"""A risky caption shows up as findings in Slack, blocks Approve, and can be accepted with a reason."""

from __future__ import annotations

from bot.demo.simulated_users import find_button
from bot.drill.samples import encode, photo, write_bundle
from tests.e2e.harness import BACKUP, REVIEWER, STRANGER, Env, _api


async def _accept(env: Env, user: str, rule: str, reason: str) -> None:
    msg = env.approval_message("risky", "Preview")
    before = set(env.standin.views)
    await env.press(user, msg, "accept_finding")
    view = await env.standin.wait_for(
        lambda: next((v for k, v in env.standin.views.items() if k not in before), None), timeout=5
    )
    options = view.view["blocks"][1]["element"]["options"]
    value = next(o["value"] for o in options if rule in o["text"]["text"])
    ans = await env.u.submit_view(
        user,
        {**view.view, "id": view.id},
        {
            "finding": {"finding_select": {"type": "static_select", "selected_option": {"value": value}}},
            "reason": {"reason_input": {"type": "plain_text_input", "value": reason}},
        },
    )
    assert ans.status == 200
    await env.settle()


async def test_risky_caption_blocks_approve_until_findings_are_accepted(env: Env) -> None:
    png = encode(photo(160, 120, 2), "PNG")
    write_bundle(
        env.releases,
        "risky",
        title="Back to school",
        files={"a.png": png},
        images=[
            {"id": "a", "candidate": "a.png", "alt": "Two children on a beach", "caption": "Guaranteed for summer"},
        ],
    )
    await env.start("risky")
    msg = env.approval_message("risky", "Preview")
    assert "Preview gates: FAIL" in msg.rendered
    assert "*Findings*" in msg.rendered and "sensitivity.regulated_claims" in msg.rendered
    assert "sensitivity.minors" in msg.rendered and "“Guaranteed for summer”" in msg.rendered
    assert find_button(_api(msg), "approve") is None

    await _accept(env, STRANGER, "minors", "looks fine to me")
    assert "Only the phase owners can accept" in env.ephemeral_text(STRANGER)

    await _accept(env, REVIEWER, "minors", "Guardians signed the model releases (ticket LEGAL-42)")
    msg = env.approval_message("risky", "Preview")
    assert "Preview gates: FAIL" in msg.rendered and "1 accepted with a reason" in msg.rendered

    await _accept(env, REVIEWER, "regulated_claims", "Legal approved the guarantee wording")
    assert "needs a second owner" in env.thread_text("risky")
    assert find_button(_api(env.approval_message("risky", "Preview")), "approve") is None

    await _accept(env, BACKUP, "regulated_claims", "Checked the guarantee terms page too")
    msg = env.approval_message("risky", "Preview")
    assert "Preview gates: PASS" in msg.rendered
    assert find_button(_api(msg), "approve") is not None
    actions = [
        (e["actor"], e["outcome"])
        for e in await env.bot.store.audit_entries("risky")  # type: ignore[union-attr]
        if e["action"] == "finding.accept"
    ]
    assert actions == [(STRANGER, "refused"), (REVIEWER, "ok"), (REVIEWER, "ok"), (BACKUP, "ok")]
