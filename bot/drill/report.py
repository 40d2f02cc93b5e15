"""How a drill reads in Slack: its report (against the previous one) and the history table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import Any

from bot.drill.shims import LCP_SHIFT
from bot.slack.blocks.text import esc, header, section
from storage.drills import DrillRun

# -- rendering -------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "—" if value is None else (f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s")


def _delta(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    diff = now - before
    return f" ({'+' if diff >= 0 else '−'}{_s(abs(diff))} vs last drill)"


OUTCOME = {
    "completed": "✅ completed",
    "no_response": "⏰ no approver response",
    "rejected": "❌ rejected by approver",
    "rollback_not_seen": "⚠️ rollback not confirmed",
    "error": "💥 drill error",
}


def report_blocks(r: DrillRun, previous: DrillRun | None = None) -> list[dict[str, Any]]:
    prev = previous
    who = f"<@{r.approver}>" if r.approver else "nobody"
    lines = [
        f"*Outcome:* {OUTCOME.get(r.outcome, esc(r.outcome))} · release `{esc(r.release_name)}` · "
        f"engine {esc(r.engine)}",
        f"*Approver response:* {_s(r.approver_response_s)} by {who}"
        f"{' (after escalation to backups)' if r.escalated else ''}"
        f"{_delta(r.approver_response_s, prev.approver_response_s if prev else None)}",
        f"*Slack delivery:* {r.slack_calls} calls, p50 {_s(r.slack_p50_s)}, p95 {_s(r.slack_p95_s)}, "
        f"max {_s(r.slack_max_s)}, {r.slack_failures} failed"
        f"{_delta(r.slack_p95_s, prev.slack_p95_s if prev else None)}",
        f"*Rollback:* failure → failing verdict {_s(r.rollback_detect_s)}, failure → engine at 0% "
        f"{_s(r.rollback_engine_s)}{_delta(r.rollback_engine_s, prev.rollback_engine_s if prev else None)}",
    ]
    if r.detail.get("failed_gates"):
        lines.append(f"Failed gates: {esc(', '.join(r.detail['failed_gates']))} (synthetic LCP ×{LCP_SHIFT})")
    if r.detail.get("error") or r.detail.get("why"):
        lines.append(f"Note: {esc(str(r.detail.get('error') or r.detail.get('why')))}")
    return [header(f"🧯 Game-day drill report — {r.release_name}"), section("\n".join(lines))]


def history_table(rows: Sequence[DrillRun]) -> str:
    head = f"{'started (UTC)':<17} {'outcome':<17} {'approver':>9} {'slack p95':>9} {'detect':>7} {'→ 0%':>7}"
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r.started_at.astimezone(UTC):%Y-%m-%d %H:%M} {r.outcome:<17} {_s(r.approver_response_s):>9} "
            f"{_s(r.slack_p95_s):>9} {_s(r.rollback_detect_s):>7} {_s(r.rollback_engine_s):>7}"
        )
    return "\n".join(out)


def history_blocks(rows: Sequence[DrillRun]) -> list[dict[str, Any]]:
    if not rows:
        return [section("No game-day drill has run yet. `/release drill` runs one.")]
    return [
        header("Game-day drills (newest first)"),
        section(f"```{history_table(rows)}```"),
        section(
            "Approver = Preview request → decision. Detect = failure visible → failing verdict. "
            "→ 0% = failure visible → traffic engine confirmed 0%."
        ),
    ]
