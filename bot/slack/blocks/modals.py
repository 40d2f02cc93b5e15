"""Modals: a reason is required to reject; a comment is optional to approve."""

from __future__ import annotations

import json

from bot.slack.blocks.text import clip, esc, plain, section
from gates.phases import DecisionKind

REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"


def decision_modal(
    *, decision: str, request_id: int, release_name: str, phase_label: str, channel: str, message_ts: str | None
) -> dict[str, object]:
    rejecting = decision == DecisionKind.REJECT
    meta = json.dumps({"request": request_id, "decision": decision, "channel": channel, "ts": message_ts})
    return {
        "type": "modal",
        "callback_id": "decision_modal",
        "private_metadata": meta,
        "title": plain("Reject phase" if rejecting else "Approve phase", 24),
        "submit": plain("Reject" if rejecting else "Approve", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(clip(f"{'Rejecting' if rejecting else 'Approving'} *{phase_label}* of *{esc(release_name)}*.")),
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": not rejecting,
                "label": plain("Reason (required)" if rejecting else "Comment (optional)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "max_length": 2000,
                    **({"min_length": 3} if rejecting else {}),
                },
            },
        ],
    }


FINDING_BLOCK = "finding"
FINDING_ACTION = "finding_select"


def accept_finding_modal(
    *, request_id: int, release_name: str, channel: str, findings: list[tuple[str, str]]
) -> dict[str, object]:
    """Pick one open finding and say why it is acceptable. ``findings`` is (key, label)."""
    meta = json.dumps({"request": request_id, "channel": channel})
    options = [{"text": plain(label, 75), "value": key} for key, label in findings[:100]]
    return {
        "type": "modal",
        "callback_id": "accept_finding_modal",
        "private_metadata": meta,
        "title": plain("Accept a finding", 24),
        "submit": plain("Accept", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(
                clip(
                    f"Accepting a finding of *{esc(release_name)}* puts your name and reason on the record. "
                    "A critical finding needs a second owner to accept it too."
                )
            ),
            {
                "type": "input",
                "block_id": FINDING_BLOCK,
                "label": plain("Finding", 2000),
                "element": {"type": "static_select", "action_id": FINDING_ACTION, "options": options},
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("Why it is acceptable (required)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": 2000,
                },
            },
        ],
    }
