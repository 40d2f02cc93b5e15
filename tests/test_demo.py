"""`releasegate demo` runs a whole release with no Slack credentials and leaves its evidence behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.demo.walkthrough import run_demo
from storage.audit import verify_chain


async def test_demo_runs_all_phases_and_writes_its_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELEASEGATE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert await run_demo(str(tmp_path / "out")) == 0
    out = tmp_path / "out"
    transcript = (out / "transcript.txt").read_text()
    for seen in (
        "Preview started",
        "escalated to",
        "Canary rolled back",
        "lcp_p75",
        "Canary retried",
        "Global traffic → 100%",
        "live everywhere",
        "Numbers hold in every region",
    ):
        assert seen in transcript, seen
    # The bot's log is kept beside the transcript instead of drowning the story on the terminal.
    log = (out / "demo.log").read_text()
    assert "outbox" in log or "chat.postMessage" in log
    entries = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert verify_chain(entries) is None
    actions = [e["action"] for e in entries]
    assert actions.count("decision.approve") == 3 and "sla.escalate" in actions
    # The simulated RUM collector posts with its own metrics:write key, made (and audited) like the CLI's.
    made = [e for e in entries if e["action"] == "key.create"]
    assert [(e["detail"]["name"], e["detail"]["scopes"]) for e in made] == [("rum-collector", ["metrics:write"])]
    assert (out / "audit.csv").read_text().startswith("seq,at,actor")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoints"] and manifest["checkpoints"][-1]["seq"] == len(entries)
    flags = json.loads((out / "flags" / "releasegate.flagd.json").read_text())
    assert "releasegate-summer-hero" in flags["flags"]
    assert (out / "slack-files" / "summer-hero-report.html").read_bytes().lstrip().lower().startswith(b"<!doctype")
    pngs = list((out / "slack-files").glob("*.png"))
    assert any("lcp-p75" in p.name for p in pngs) and any("contact-sheet" in p.name for p in pngs)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
