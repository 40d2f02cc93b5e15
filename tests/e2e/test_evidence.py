"""Evidence packages: the decision's audit entry names a package whose artifact hashes are the
bytes that were uploaded to Slack, so "what did the approver see?" has a checkable answer."""

from __future__ import annotations

import hashlib
import json

from bot.artifacts.evidence import load_package
from storage.audit import verify_chain
from storage.evidence import ContentStore
from tests.e2e.harness import CHANNEL, PRODUCT, REVIEWER, SRE_MEMBER, Env


async def test_each_decision_references_a_package_of_what_was_shown(env: Env) -> None:
    await env.start("summer-hero")
    preview = env.approval_message("summer-hero", "Preview")
    await env.press(REVIEWER, preview, "approve")
    await env.press(SRE_MEMBER, env.approval_message("summer-hero", "Canary"), "approve")
    await env.decide_in_modal(
        PRODUCT, env.approval_message("summer-hero", "Global"), "approve_with_comment", "Ship it, numbers look good"
    )
    assert env.bot is not None
    artifacts_dir = env.bot.lifecycle.artifacts_dir
    entries = await env.bot.store.audit_entries()
    assert verify_chain(entries) is None
    decisions = [e for e in entries if e["action"] == "decision.approve" and e["outcome"] == "approve"]
    assert [(e["phase"], e["actor"]) for e in decisions] == [
        ("preview", REVIEWER),
        ("canary", SRE_MEMBER),
        ("global", PRODUCT),
    ]

    packages = []
    for e in decisions:
        digest = e["detail"]["evidence"]
        assert isinstance(digest, str) and len(digest) == 64
        raw = (artifacts_dir / "cas" / digest).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == digest
        pkg = load_package(artifacts_dir, digest)
        assert pkg == json.loads(raw)
        assert pkg["phase"] == e["phase"] and pkg["decision"]["by"] == e["actor"]
        assert pkg["decision"]["decision"] == "approve"
        packages.append(pkg)

    prev_pkg = packages[0]
    assert prev_pkg["decision"]["comment"] is None
    assert packages[2]["decision"]["comment"] == "Ship it, numbers look good"
    # The permalink points at the approval message the reviewer pressed the button on.
    msg = prev_pkg["decision_message"]
    assert msg["ts"] == preview.ts and msg["channel"] == CHANNEL
    assert msg["permalink"] and preview.ts.replace(".", "") in msg["permalink"]
    budgets = [g for g in prev_pkg["gates"] if g["gate"] == "image_budget"]
    assert budgets and all(isinstance(g["measured"], float | int) and g["threshold"] == 300000 for g in budgets)
    assert {g["image_id"] for g in budgets} == {"hero-desktop", "hero-mobile", "promo-tile"}

    # Every artifact hash in the package is the SHA-256 of bytes uploaded into the thread.
    uploaded = {
        hashlib.sha256(f.content or b"").hexdigest(): f
        for f in env.standin.state.files_in(CHANNEL, env.root("summer-hero").ts)
    }
    shown = prev_pkg["artifacts"]
    assert shown, "Preview showed no artifacts"
    assert {a["filename"] for a in shown} >= {"contact-sheet.png"}
    cas = ContentStore(artifacts_dir)
    for a in shown:
        assert a["sha256"] in uploaded and uploaded[a["sha256"]].name == a["filename"]
        assert cas.get(a["sha256"]) == uploaded[a["sha256"]].content
        assert a["bytes"] == len(cas.get(a["sha256"]))
