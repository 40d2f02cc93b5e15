"""Modal submissions: the decision modal (approve with comment, reject with a reason) and finding acceptance.

Each validates the form, acks (with field errors when something is missing), and hands off.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.listeners.common import Caller
from bot.release.findings import accept_finding
from bot.release.flow import Lifecycle
from bot.slack.blocks.modals import FINDING_ACTION, FINDING_BLOCK, REASON_ACTION, REASON_BLOCK
from gates.phases import DecisionKind

_MALFORMED_FORM = {REASON_BLOCK: "This form is malformed; close it and retry."}


def _metadata(view: dict[str, Any]) -> dict[str, Any] | None:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def register_views(app: AsyncApp, lc: Lifecycle) -> None:
    @app.view("accept_finding_modal")
    async def accept_finding_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        key = (values.get(FINDING_BLOCK, {}).get(FINDING_ACTION, {}).get("selected_option") or {}).get("value")
        reason = (values.get(REASON_BLOCK, {}).get(REASON_ACTION, {}).get("value") or "").strip()
        meta = _metadata(view) or {}
        try:
            rid, channel = int(meta["request"]), str(meta["channel"])
        except (ValueError, KeyError, TypeError):
            await ack(response_action="errors", errors=_MALFORMED_FORM)
            return
        if not key:
            await ack(response_action="errors", errors={FINDING_BLOCK: "Pick the finding you accept."})
            return
        if len(reason) < 3:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why it is acceptable (3+ characters)."})
            return
        await ack()
        caller = Caller(channel, body["user"]["id"], lc.slack)
        lc.spawn(
            accept_finding(lc, rid, caller.user, str(key), reason, caller.reply),
            "accept_finding",
            request=rid,
            actor=caller.user,
        )

    @app.view("decision_modal")
    async def decision_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = _metadata(view) or {}
        try:
            rid, decision, channel = int(meta["request"]), str(meta["decision"]), str(meta["channel"])
        except (ValueError, KeyError, TypeError):
            await ack(response_action="errors", errors=_MALFORMED_FORM)
            return
        if decision not in set(DecisionKind):
            await ack(response_action="errors", errors={REASON_BLOCK: "Unknown decision."})
            return
        value = (
            view.get("state", {}).get("values", {}).get(REASON_BLOCK, {}).get(REASON_ACTION, {}).get("value") or ""
        ).strip()
        if decision == DecisionKind.REJECT and len(value) < 3:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why you reject (at least 3 characters)."})
            return
        await ack()
        caller = Caller(channel, body["user"]["id"], lc.slack)
        lc.spawn(
            lc.decide(rid, caller.user, decision, value or None, caller.reply),
            f"decide:{decision}",
            request=rid,
            actor=caller.user,
        )
