"""views.open and views.update.

views.publish has packaged facts but no handler because the bot never calls it; a call to it is
answered ``unknown_method`` like any other method the stand-in does not model.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from bot.demo.standin.blockkit import validate_view
from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError, json_field
from bot.demo.standin.state import ViewRecord

__all__ = ["open", "update"]


def open(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    trigger = args.get("trigger_id") or args.get("interactivity_pointer")
    if not trigger:
        raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
    trigger = str(trigger)
    if ctx.single_use_triggers and trigger in state.used_trigger_ids:
        raise SlackError("exchanged_trigger_id")
    view = _view_arg(args)
    external_id = view.get("external_id") or None
    if external_id and any(v.external_id == external_id for v in state.views.values()):
        raise SlackError("duplicate_external_id")
    state.used_trigger_ids.add(trigger)
    record = ViewRecord(
        id=state.new_id("V"),
        view=view,
        trigger_id=trigger,
        hash=_view_hash(),
        external_id=external_id,
    )
    state.views[record.id] = record
    return _view_response(ctx, "views.open", record)


def update(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    view_id, external_id = args.get("view_id"), args.get("external_id")
    if not view_id and not external_id:
        raise SlackError("invalid_arguments", ["[ERROR] missing required field: view_id"])
    record = state.views.get(str(view_id)) if view_id else None
    if record is None and external_id:
        record = next((v for v in state.views.values() if v.external_id == external_id), None)
    if record is None:
        raise SlackError("not_found")
    if args.get("hash") and args["hash"] != record.hash:
        raise SlackError("hash_conflict")
    view = _view_arg(args)
    record.history.append(record.view)
    record.view = view
    record.hash = _view_hash()
    record.external_id = view.get("external_id") or record.external_id
    return _view_response(ctx, "views.update", record)


def _view_arg(args: dict[str, Any]) -> dict[str, Any]:
    view = json_field(args, "view", "invalid_arguments")
    errors = validate_view(view)
    if errors:
        raise SlackError("invalid_arguments", errors)
    assert isinstance(view, dict)
    return view


def _view_response(ctx: Context, method: str, record: ViewRecord) -> dict[str, Any]:
    out = ctx.spec_example(method)
    v = record.view
    out["view"].update(
        id=record.id,
        team_id=ctx.state.team_id,
        type=v.get("type", "modal"),
        title=v.get("title"),
        submit=v.get("submit"),
        close=v.get("close"),
        blocks=v.get("blocks", []),
        private_metadata=v.get("private_metadata", ""),
        callback_id=v.get("callback_id", ""),
        external_id=record.external_id or "",
        state={"values": {}},
        hash=record.hash,
        clear_on_close=bool(v.get("clear_on_close", False)),
        notify_on_close=bool(v.get("notify_on_close", False)),
        root_view_id=record.id,
        app_id=ctx.state.app_id,
        bot_id=ctx.state.bot_id,
    )
    return out


def _view_hash() -> str:
    return f"{time.time():.6f}.{secrets.token_hex(4)}"
