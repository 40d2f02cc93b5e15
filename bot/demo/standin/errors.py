"""How the stand-in refuses a call, and the argument readers every method family shares."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["SlackError", "flag", "json_field"]


class SlackError(Exception):
    """A refusal Slack answers with ``{"ok": false, "error": …}`` (HTTP 200, as Slack does)."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages

    def response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def flag(value: Any) -> bool:
    """Form-encoded calls carry booleans as strings; JSON calls carry real ones."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def json_field(args: dict[str, Any], key: str, error: str) -> Any:
    """Form-encoded calls carry structured fields as JSON strings; JSON calls carry them as-is."""
    value = args.get(key)
    if isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SlackError(error, [f"[ERROR] {key} is not valid JSON [json-pointer:/{key}]"]) from exc
    return value
