"""Messages about a release as a whole: the root message, phase markers, status and summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.slack.blocks.text import context, esc, header, mention, mentions, section, when

# section and mentions are part of this module's face: the flow builds its notes with them.
__all__ = ["mentions", "section"]
from gates.phases import DecisionKind, Phase, State

MAX_IMAGES_LISTED = 10

_STATE_WORDS = {
    State.RUNNING: "gates running",
    State.AWAITING: "awaiting decision",
    State.BLOCKED: "blocked by a failed gate",
    State.PAUSED: "paused",
    State.COMPLETED: "completed",
    State.REJECTED: "rejected",
    State.ROLLED_BACK: "rolled back",
}


@dataclass(frozen=True)
class ReleaseView:
    """What the messages need to know about a release (built by the bot from storage rows)."""

    name: str
    title: str
    attempt: int
    phase: Phase
    state: State
    requested_by: str
    image_ids: Sequence[str]
    traffic_percent: float = 0.0


def state_words(state: State) -> str:
    return _STATE_WORDS[state]


def _phase_marks(view: ReleaseView) -> str:
    order = list(Phase)
    cur = order.index(view.phase)
    marks = []
    for i, p in enumerate(order):
        if view.state is State.COMPLETED or i < cur:
            icon = "✅"
        elif i == cur:
            icon = {
                State.REJECTED: "❌",
                State.ROLLED_BACK: "↩️",
                State.PAUSED: "⏸️",
                State.BLOCKED: "⛔",
            }.get(view.state, "▶️")
        else:
            icon = "⬜"
        marks.append(f"{icon} {p.label}")
    return "  →  ".join(marks)


def root_blocks(view: ReleaseView) -> list[dict[str, object]]:
    images = ", ".join(f"`{esc(i)}`" for i in view.image_ids[:MAX_IMAGES_LISTED])
    more = len(view.image_ids) - MAX_IMAGES_LISTED
    if more > 0:
        images += f" and {more} more"
    attempt = f" (attempt {view.attempt})" if view.attempt > 1 else ""
    return [
        header(f"Release {view.name}{attempt}"),
        section(
            f"*{esc(view.title)}*\n{len(view.image_ids)} image(s): {images}\nRequested by {mention(view.requested_by)}"
        ),
        section(
            f"{_phase_marks(view)}\n*Now:* {view.phase.label} — {state_words(view.state)}"
            + (f" · traffic {view.traffic_percent:g}%" if view.traffic_percent else "")
        ),
        context("Everything about this release is in the thread below."),
    ]


def root_text(view: ReleaseView) -> str:
    return f"Release {view.name}: {view.phase.label} — {state_words(view.state)}"


def phase_started_blocks(
    view: ReleaseView, owners: Sequence[str], sla_text: str, scope: str
) -> list[dict[str, object]]:
    return [
        section(
            f"▶️ *{view.phase.label} started* for *{esc(view.name)}*\n"
            f"Scope: {scope}\nOwner: {mentions(owners)} · decision SLA {sla_text}\n"
            "Gates are running; results follow here."
        )
    ]


def phase_finished_text(phase: Phase, decision_by: str, at: datetime) -> str:
    return f"🏁 *{phase.label} finished* — approved by <@{decision_by}> {when(at)}"


@dataclass(frozen=True)
class DecisionView:
    phase: str
    decision: str
    by: str
    at: datetime
    comment: str | None


def final_summary_blocks(view: ReleaseView, decisions: Sequence[DecisionView]) -> list[dict[str, object]]:
    if view.state is State.COMPLETED:
        head = f"🎉 *{esc(view.name)} is live everywhere.*"
    elif view.state is State.REJECTED:
        head = f"🛑 *{esc(view.name)} was rejected* in {view.phase.label}."
    else:
        head = f"↩️ *{esc(view.name)} was rolled back* in {view.phase.label}."
    lines = [head]
    for d in decisions:
        verb = "approved" if d.decision == DecisionKind.APPROVE else "rejected"
        line = f"• {d.phase.capitalize()}: {verb} by <@{d.by}> {when(d.at)}"
        if d.comment:
            line += f" — “{esc(d.comment)}”"
        lines.append(line)
    return [section("\n".join(lines))]


def _verb(decision: str) -> str:
    return "approved" if decision == DecisionKind.APPROVE else "rejected"


def status_blocks(view: ReleaseView, decisions: Sequence[DecisionView], link: str | None) -> list[dict[str, object]]:
    blocks = root_blocks(view)[:3]
    if decisions:
        lines = [f"• {d.phase.capitalize()}: {_verb(d.decision)} by <@{d.by}> {when(d.at)}" for d in decisions]
        blocks.append(section("*Decisions*\n" + "\n".join(lines)))
    if link:
        blocks.append(context(f"<{link}|Open the thread>"))
    return blocks


def list_blocks(views: Sequence[ReleaseView]) -> list[dict[str, object]]:
    if not views:
        return [section("No releases yet. Start one with `/release start NAME`.")]
    lines = [
        f"• *{esc(v.name)}*{f' #{v.attempt}' if v.attempt > 1 else ''} — {v.phase.label}, {state_words(v.state)}"
        for v in views
    ]
    return [section("*Recent releases*\n" + "\n".join(lines))]


USAGE = (
    "*Usage*\n"
    "`/release start NAME` — start a release from `NAME/release.yml`\n"
    "`/release status [NAME]` — where a release stands (all active ones without NAME)\n"
    "`/release list` — recent releases\n"
    "`/release pause NAME` · `/release resume NAME` — hold or continue (phase owners)\n"
    "`/release rollback NAME [reason…]` — take traffic away from the candidate (phase owners)\n"
    "`/release drill` · `/release drill history` — a game-day drill with a failing Canary / past drills\n"
    "`/release inspector` — a private sign-in link to the Audit Inspector\n"
    "`/release help` — this message\n"
    "Approve and Reject are buttons in the release's thread, never typed."
)


def usage_blocks(problem: str | None = None) -> list[dict[str, object]]:
    blocks = []
    if problem:
        blocks.append(section(f"⚠️ {problem}"))
    blocks.append(section(USAGE))
    return blocks
