"""The gate results message: one line per gate, the failures by image, and the decision buttons."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.slack.blocks.text import clip, context, esc, header, mentions, plain, section, when
from gates.acceptance import finding_key
from gates.phases import DecisionKind, Phase
from gates.result import Finding, GateResult, Status, worst

ICON = {Status.PASS: "✅", Status.WARN: "⚠️", Status.INCONCLUSIVE: "❔", Status.FAIL: "❌"}
MAX_FAILURE_LINES = 12


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "bytes":
        return f"{value:,.0f} bytes"
    if unit in ("fraction", "rate"):
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"
    return f"{number} {unit}".strip()


def _worst_result(results: Sequence[GateResult]) -> GateResult:
    order = [Status.FAIL, Status.INCONCLUSIVE, Status.WARN, Status.PASS]
    return sorted(results, key=lambda r: order.index(r.status))[0]


@dataclass(frozen=True)
class GateLine:
    gate: str
    status: Status
    text: str
    failures: list[str]


def gate_lines(results: Sequence[GateResult]) -> list[GateLine]:
    """Aggregate per gate, keeping the order in which gates first appear."""
    order: list[str] = []
    for r in results:
        if r.gate not in order:
            order.append(r.gate)
    lines = []
    for gate in order:
        rs = [r for r in results if r.gate == gate]
        status = worst(r.status for r in rs)
        head = _worst_result(rs)
        per_image = [r for r in rs if r.image_id is not None]
        measured = fmt_value(head.measured, head.unit)
        threshold = fmt_value(head.threshold, head.unit)
        count = ""
        if per_image:
            ok = sum(1 for r in per_image if r.status in (Status.PASS, Status.WARN))
            count = f"{ok}/{len(per_image)} images ok · "
        where = f" ({esc(head.image_id)})" if head.image_id and len(per_image) > 1 else ""
        text = (
            f"{ICON[status]} *{esc(gate)}* — {count}measured {measured}{where}, "
            f"threshold {threshold} · _{status.value}_"
        )
        if not per_image or len(per_image) == 1:
            text += f"\n      {esc(head.summary)}"
        failures = [
            f"• {ICON[r.status]} `{esc(r.image_id or 'release')}` {esc(r.summary)}"
            for r in rs
            if r.status in (Status.FAIL, Status.INCONCLUSIVE) and len(per_image) > 1
        ]
        lines.append(GateLine(gate, status, text, failures))
    return lines


def rollback_button(release_name: str, phase: Phase, value: str) -> dict[str, object]:
    """Rollback (traffic to 0% at once), behind a confirmation: one misclick must not undo a rollout."""
    return {
        "type": "button",
        "action_id": "rollback",
        "style": "danger",
        "text": plain("Roll back…"),
        "value": value,
        "confirm": {
            "title": plain(f"Roll back {phase.label}?", 100),
            "text": {
                "type": "mrkdwn",
                "text": f"Traffic to the candidate of *{esc(release_name)}* goes to 0% now, in every "
                "flag engine. The release ends as rolled back; it can be started again.",
            },
            "confirm": plain("Roll back", 30),
            "deny": plain("Cancel", 30),
            "style": "danger",
        },
    }


def _actions(
    request_id: int,
    passed: bool,
    run_id: int,
    phase: Phase = Phase.PREVIEW,
    release_name: str = "",
    has_findings: bool = False,
) -> dict[str, object]:
    value = json.dumps({"request": request_id, "run": run_id})
    elements: list[dict[str, object]] = []
    if passed:
        elements.append(
            {
                "type": "button",
                "action_id": "approve",
                "style": "primary",
                "text": plain("Approve"),
                "value": value,
                "confirm": {
                    "title": plain("Approve this phase?", 100),
                    "text": {"type": "mrkdwn", "text": "Your name and the gate results shown go on the record."},
                    "confirm": plain("Approve", 30),
                    "deny": plain("Cancel", 30),
                },
            }
        )
        elements.append(
            {
                "type": "button",
                "action_id": "approve_with_comment",
                "text": plain("Approve with comment…"),
                "value": value,
            }
        )
    else:
        elements.append({"type": "button", "action_id": "rerun", "text": plain("Re-run gates"), "value": value})
    elements.append(
        {"type": "button", "action_id": "reject", "style": "danger", "text": plain("Reject…"), "value": value}
    )
    if phase is not Phase.PREVIEW:
        elements.append(rollback_button(release_name, phase, value))
    if has_findings:
        elements.append(
            {"type": "button", "action_id": "accept_finding", "text": plain("Accept a finding…"), "value": value}
        )
    return {"type": "actions", "block_id": f"decision:{request_id}", "elements": elements}


SEVERITY_ICON = {"critical": "🛑", "warning": "⚠️", "info": "ℹ️"}
MAX_FINDING_LINES = 10


def open_findings(results: Sequence[GateResult]) -> list[Finding]:
    """Findings not yet accepted, most severe first."""
    accepted = {a["finding"] for r in results for a in r.evidence.get("accepted", [])}
    rank = {"critical": 0, "warning": 1, "info": 2}
    found = [f for r in results for f in r.findings if finding_key(f) not in accepted]
    return sorted(found, key=lambda f: rank.get(f.severity, 3))


def findings_section(results: Sequence[GateResult]) -> dict[str, object] | None:
    found = open_findings(results)
    if not found:
        return None
    lines = []
    for f in found[:MAX_FINDING_LINES]:
        where = f"`{esc(f.image_id or 'release')}` {esc(f.field or '')}".strip()
        context = f" — “{esc(clip(f.context, 120))}”" if f.context else ""
        lines.append(
            f"{SEVERITY_ICON.get(f.severity, '•')} *{esc(f.rule)}* ({f.severity}) {where}{context}\n"
            f"      _{esc(clip(f.message, 240))}_"
        )
    more = len(found) - MAX_FINDING_LINES
    tail = f"\n…and {more} more in the report" if more > 0 else ""
    return section(clip("*Findings*\n" + "\n".join(lines) + tail))


def results_blocks(
    *,
    release_name: str,
    phase: Phase,
    results: Sequence[GateResult],
    owners: Sequence[str],
    request_id: int | None,
    run_id: int,
    sla_text: str,
    decided_line: str | None = None,
) -> list[dict[str, object]]:
    """Gate results with Approve/Reject (or Reject/Re-run when a gate failed).

    ``decided_line`` replaces the buttons once the decision is made.
    """
    status = worst(r.status for r in results) if results else Status.PASS
    passed = status in (Status.PASS, Status.WARN)
    blocks: list[dict[str, object]] = [header(f"{phase.label} gates: {status.value.upper()} — {release_name}")]
    lines = gate_lines(results)
    if not lines:
        blocks.append(section("_No gates are configured for this phase._"))
    for chunk in _chunks([ln.text for ln in lines]):
        blocks.append(section(chunk))
    failures = [f for ln in lines for f in ln.failures]
    if failures:
        shown = failures[:MAX_FAILURE_LINES]
        more = len(failures) - len(shown)
        text = "*Needs attention*\n" + "\n".join(shown) + (f"\n…and {more} more in the report" if more else "")
        blocks.append(section(clip(text)))
    findings = findings_section(results)
    if findings is not None:
        blocks.append(findings)
    if decided_line:
        blocks.append(section(decided_line))
    elif request_id is not None:
        if passed:
            blocks.append(section(f"{mentions(owners)}: please review and decide within {sla_text}."))
        else:
            blocks.append(
                section(
                    f"{mentions(owners)}: a gate failed, so this phase cannot be approved. Reject it, or fix"
                    " the bundle and re-run the gates."
                )
            )
        blocks.append(_actions(request_id, passed, run_id, phase, release_name, bool(open_findings(results))))
    return blocks


def _chunks(lines: Sequence[str], limit: int = 2900) -> list[str]:
    out: list[str] = []
    cur = ""
    for ln in lines:
        ln = clip(ln, limit)
        if cur and len(cur) + 1 + len(ln) > limit:
            out.append(cur)
            cur = ln
        else:
            cur = f"{cur}\n{ln}" if cur else ln
    if cur:
        out.append(cur)
    return out


def decided_line(decision: str, by: str, at: datetime, comment: str | None) -> str:
    verb = "✅ Approved" if decision == DecisionKind.APPROVE else "❌ Rejected"
    text = f"{verb} by <@{by}> {when(at)}"
    if comment:
        text += f"\n> {esc(comment)}"
    return text


def summary_text(results: Sequence[GateResult]) -> str:
    """Plain-text fallback for notifications (the `text` next to blocks)."""
    return ", ".join(f"{ln.gate}: {ln.status.value}" for ln in gate_lines(results)) or "no gates"


def status_context(results: Sequence[GateResult]) -> dict[str, object]:
    return context(" · ".join(f"{ICON[ln.status]} {esc(ln.gate)}" for ln in gate_lines(results)) or "no gates")
