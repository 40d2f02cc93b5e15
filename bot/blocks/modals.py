"""Modals: a reason is required to reject; a comment is optional to approve."""

from __future__ import annotations

import json

from bot.blocks.text import clip, esc, plain, section

REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"


def decision_modal(
    *, decision: str, request_id: int, release_name: str, phase_label: str, channel: str, message_ts: str | None
) -> dict[str, object]:
    rejecting = decision == "reject"
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
