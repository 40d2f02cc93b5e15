"""Block Kit limits as Slack enforces them, and a renderer of what a human would read.

Each check returns Slack-style messages (``[ERROR] … [json-pointer:/blocks/0/text/text]``) so a
rejected call in the stand-in reads like a rejected call against real Slack. The limits come from
Slack's Block Kit reference; only the block and element types a ChatOps bot plausibly sends are
modelled, and any other type is rejected rather than silently waved through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_MESSAGE_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_VIEW_BLOCKS",
    "blocks_text",
    "message_text",
    "validate_blocks",
    "validate_view",
]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40000

_TEXT_TYPES = ("plain_text", "mrkdwn")
_BUTTON_STYLES = ("primary", "danger")
_SELECTS = (
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
)
_PICKERS = ("datepicker", "timepicker", "datetimepicker")
_CHOICES = ("checkboxes", "radio_buttons")
_TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input")
_ACTIONS_ELEMENTS = frozenset(("button", "overflow", "workflow_button", *_SELECTS, *_PICKERS, *_CHOICES))
_ACCESSORY_ELEMENTS = frozenset(("button", "overflow", "image", "workflow_button", *_SELECTS, *_PICKERS, *_CHOICES))
_INPUT_ELEMENTS = frozenset((*_SELECTS, *_PICKERS, *_CHOICES, *_TEXT_INPUTS, "file_input"))
_BLOCK_TYPES = frozenset(
    (
        "section",
        "header",
        "divider",
        "actions",
        "context",
        "image",
        "input",
        "rich_text",
        "markdown",
        "file",
        "video",
    )
)


class _Checker:
    """Collects errors while walking one payload; the pointer mirrors Slack's json-pointer paths."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def max_len(self, value: Any, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(pointer, f"must be less than {limit + 1} characters")

    def string(self, obj: Mapping[str, Any], key: str, limit: int, pointer: str, *, required: bool = False) -> None:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(f"{pointer}/{key}", "must be provided")
            return
        if not isinstance(value, str):
            self.fail(f"{pointer}/{key}", "must be a string")
            return
        self.max_len(value, limit, f"{pointer}/{key}")

    def text_object(
        self, obj: Any, pointer: str, limit: int, *, plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.fail(pointer, "must be provided")
            return
        if not isinstance(obj, Mapping):
            self.fail(pointer, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in _TEXT_TYPES:
            self.fail(f"{pointer}/type", "must be one of plain_text, mrkdwn")
            return
        if plain_only and kind != "plain_text":
            self.fail(f"{pointer}/type", "must be plain_text")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail(f"{pointer}/text", "must be provided")
            return
        if not text:
            self.fail(f"{pointer}/text", "must be more than 0 characters")
        self.max_len(text, limit, f"{pointer}/text")
        if kind == "mrkdwn" and "emoji" in obj:
            self.fail(f"{pointer}/emoji", "invalid additional property: emoji")
        if kind == "plain_text" and "verbatim" in obj:
            self.fail(f"{pointer}/verbatim", "invalid additional property: verbatim")

    def items(self, obj: Mapping[str, Any], key: str, pointer: str, *, low: int, high: int) -> list[Any]:
        value = obj.get(key)
        if value is None:
            if low > 0:
                self.fail(f"{pointer}/{key}", "must be provided")
            return []
        if not isinstance(value, list):
            self.fail(f"{pointer}/{key}", "must be an array")
            return []
        if len(value) < low:
            self.fail(f"{pointer}/{key}", f"must provide at least {low} items")
        if len(value) > high:
            self.fail(f"{pointer}/{key}", f"no more than {high} items allowed")
        return value

    # -- composition objects -------------------------------------------------------------------

    def confirm(self, obj: Any, pointer: str) -> None:
        if not isinstance(obj, Mapping):
            self.fail(pointer, "must be a confirmation object")
            return
        self.text_object(obj.get("title"), f"{pointer}/title", 100, plain_only=True)
        self.text_object(obj.get("text"), f"{pointer}/text", 300)
        self.text_object(obj.get("confirm"), f"{pointer}/confirm", 30, plain_only=True)
        self.text_object(obj.get("deny"), f"{pointer}/deny", 30, plain_only=True)
        style = obj.get("style")
        if style is not None and style not in _BUTTON_STYLES:
            self.fail(f"{pointer}/style", "must be one of primary, danger")

    def option(self, obj: Any, pointer: str, *, text_limit: int = 75, plain_only: bool = True) -> None:
        if not isinstance(obj, Mapping):
            self.fail(pointer, "must be an option object")
            return
        self.text_object(obj.get("text"), f"{pointer}/text", text_limit, plain_only=plain_only)
        self.string(obj, "value", 150, pointer, required=True)
        self.text_object(obj.get("description"), f"{pointer}/description", 75, required=False)
        self.string(obj, "url", 3000, pointer)

    def image_source(self, obj: Mapping[str, Any], pointer: str) -> None:
        if obj.get("image_url") is None and obj.get("slack_file") is None:
            self.fail(f"{pointer}/image_url", "must provide either image_url or slack_file")
        self.string(obj, "image_url", 3000, pointer)
        slack_file = obj.get("slack_file")
        if slack_file is not None and not (
            isinstance(slack_file, Mapping) and (slack_file.get("url") or slack_file.get("id"))
        ):
            self.fail(f"{pointer}/slack_file", "must provide either url or id")
        self.string(obj, "alt_text", 2000, pointer, required=True)

    # -- elements ------------------------------------------------------------------------------

    def element(self, obj: Any, pointer: str, allowed: frozenset[str]) -> None:
        if not isinstance(obj, Mapping):
            self.fail(pointer, "must be an element object")
            return
        kind = obj.get("type")
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"unsupported element type: {kind}")
            return
        self.string(obj, "action_id", 255, pointer)
        if "confirm" in obj:
            self.confirm(obj["confirm"], f"{pointer}/confirm")
        if "placeholder" in obj:
            self.text_object(obj["placeholder"], f"{pointer}/placeholder", 150, plain_only=True)
        if kind == "button":
            self.text_object(obj.get("text"), f"{pointer}/text", 75, plain_only=True)
            self.string(obj, "value", 2000, pointer)
            self.string(obj, "url", 3000, pointer)
            self.string(obj, "accessibility_label", 75, pointer)
            style = obj.get("style")
            if style is not None and style not in _BUTTON_STYLES:
                self.fail(f"{pointer}/style", "must be one of primary, danger")
        elif kind == "image":
            self.image_source(obj, pointer)
        elif kind == "overflow":
            for i, opt in enumerate(self.items(obj, "options", pointer, low=1, high=5)):
                self.option(opt, f"{pointer}/options/{i}")
        elif kind in ("static_select", "multi_static_select"):
            options = self.items(obj, "options", pointer, low=0, high=100)
            groups = self.items(obj, "option_groups", pointer, low=0, high=100)
            if not options and not groups:
                self.fail(f"{pointer}/options", "must provide either options or option_groups")
            for i, opt in enumerate(options):
                self.option(opt, f"{pointer}/options/{i}")
            for g, group in enumerate(groups):
                if isinstance(group, Mapping):
                    self.text_object(group.get("label"), f"{pointer}/option_groups/{g}/label", 75, plain_only=True)
                    for i, opt in enumerate(
                        self.items(group, "options", f"{pointer}/option_groups/{g}", low=1, high=100)
                    ):
                        self.option(opt, f"{pointer}/option_groups/{g}/options/{i}")
        elif kind in _CHOICES:
            for i, opt in enumerate(self.items(obj, "options", pointer, low=1, high=10)):
                self.option(
                    opt,
                    f"{pointer}/options/{i}",
                    text_limit=150 if kind == "checkboxes" else 75,
                    plain_only=False,
                )
        elif kind == "plain_text_input":
            for key in ("max_length", "min_length"):
                value = obj.get(key)
                if value is not None and (not isinstance(value, int) or value > 3000 or value < 0):
                    self.fail(f"{pointer}/{key}", "must be at most 3000")
            self.string(obj, "initial_value", 3000, pointer)

    def block(self, obj: Any, pointer: str, block_ids: set[str]) -> None:
        if not isinstance(obj, Mapping):
            self.fail(pointer, "must be a block object")
            return
        kind = obj.get("type")
        if kind not in _BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported block type: {kind}")
            return
        block_id = obj.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                self.fail(f"{pointer}/block_id", "must be a non-empty string")
            else:
                self.max_len(block_id, 255, f"{pointer}/block_id")
                if block_id in block_ids:
                    self.fail(f"{pointer}/block_id", f"duplicate block_id: {block_id}")
                block_ids.add(block_id)
        if kind == "section":
            self._section(obj, pointer)
        elif kind == "header":
            self.text_object(obj.get("text"), f"{pointer}/text", 150, plain_only=True)
        elif kind == "actions":
            elements = self.items(obj, "elements", pointer, low=1, high=25)
            seen: set[str] = set()
            for i, element in enumerate(elements):
                self.element(element, f"{pointer}/elements/{i}", _ACTIONS_ELEMENTS)
                action_id = element.get("action_id") if isinstance(element, Mapping) else None
                if isinstance(action_id, str):
                    if action_id in seen:
                        self.fail(f"{pointer}/elements/{i}/action_id", f"duplicate action_id: {action_id}")
                    seen.add(action_id)
        elif kind == "context":
            for i, element in enumerate(self.items(obj, "elements", pointer, low=1, high=10)):
                if isinstance(element, Mapping) and element.get("type") == "image":
                    self.image_source(element, f"{pointer}/elements/{i}")
                else:
                    self.text_object(element, f"{pointer}/elements/{i}", 3000)
        elif kind == "image":
            self.image_source(obj, pointer)
            if "title" in obj:
                self.text_object(obj["title"], f"{pointer}/title", 2000, plain_only=True)
        elif kind == "input":
            self.text_object(obj.get("label"), f"{pointer}/label", 2000, plain_only=True)
            if "hint" in obj:
                self.text_object(obj["hint"], f"{pointer}/hint", 2000, plain_only=True)
            if obj.get("element") is None:
                self.fail(f"{pointer}/element", "must be provided")
            else:
                self.element(obj["element"], f"{pointer}/element", _INPUT_ELEMENTS)
        elif kind == "markdown":
            text = obj.get("text")
            if not isinstance(text, str) or not text:
                self.fail(f"{pointer}/text", "must be provided")
            else:
                self.max_len(text, 12000, f"{pointer}/text")
        elif kind == "rich_text":
            self.items(obj, "elements", pointer, low=1, high=1000)

    def _section(self, obj: Mapping[str, Any], pointer: str) -> None:
        if obj.get("text") is None and obj.get("fields") is None:
            self.fail(f"{pointer}/text", "must provide either text or fields")
        if obj.get("text") is not None:
            self.text_object(obj["text"], f"{pointer}/text", 3000)
        for i, item in enumerate(self.items(obj, "fields", pointer, low=0, high=10)):
            self.text_object(item, f"{pointer}/fields/{i}", 2000)
        if obj.get("accessory") is not None:
            self.element(obj["accessory"], f"{pointer}/accessory", _ACCESSORY_ELEMENTS)


def validate_blocks(blocks: Any, *, pointer: str = "/blocks", max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Slack-style error messages for a ``blocks`` array; empty when Slack would accept it."""
    checker = _Checker()
    _check_block_list(checker, blocks, pointer, max_blocks)
    return checker.errors


def _check_block_list(checker: _Checker, blocks: Any, pointer: str, max_blocks: int) -> None:
    if not isinstance(blocks, list):
        checker.fail(pointer, "must be an array")
        return
    if len(blocks) > max_blocks:
        checker.fail(pointer, f"no more than {max_blocks} items allowed")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}", block_ids)


def validate_view(view: Any, *, pointer: str = "/view") -> list[str]:
    """Slack-style error messages for a modal or home tab view object."""
    checker = _Checker()
    if not isinstance(view, Mapping):
        checker.fail(pointer, "must be a view object")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.fail(f"{pointer}/type", "must be one of modal, home")
        return checker.errors
    if kind == "modal":
        checker.text_object(view.get("title"), f"{pointer}/title", 24, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            checker.text_object(view[key], f"{pointer}/{key}", 24, plain_only=True)
    checker.string(view, "callback_id", 255, pointer)
    checker.string(view, "private_metadata", 3000, pointer)
    checker.string(view, "external_id", 255, pointer)
    blocks = view.get("blocks")
    if blocks is None:
        checker.fail(f"{pointer}/blocks", "must be provided")
    else:
        _check_block_list(checker, blocks, f"{pointer}/blocks", MAX_VIEW_BLOCKS)
    has_input = isinstance(blocks, list) and any(isinstance(b, Mapping) and b.get("type") == "input" for b in blocks)
    if kind == "modal" and has_input and view.get("submit") is None:
        checker.fail(f"{pointer}/submit", "must provide submit when using input blocks")
    return checker.errors


# -- rendering ------------------------------------------------------------------------------------

# Confirmation dialogs only appear after a click, so they are not part of what a reader sees.
_HIDDEN_KEYS = frozenset(("confirm", "action_id", "value", "block_id", "url", "image_url", "alt_text"))


def _walk_text(node: Any, out: list[str]) -> None:
    if isinstance(node, Mapping):
        kind = node.get("type")
        if kind in (*_TEXT_TYPES, "markdown") and isinstance(node.get("text"), str):
            out.append(node["text"])
            return
        if kind == "text" and isinstance(node.get("text"), str):  # rich_text leaf
            out.append(node["text"])
            return
        if kind == "link" and isinstance(node.get("url"), str):
            out.append(str(node.get("text") or node["url"]))
            return
        if kind == "user" and isinstance(node.get("user_id"), str):
            out.append(f"<@{node['user_id']}>")
            return
        for key, value in node.items():
            if key not in _HIDDEN_KEYS:
                _walk_text(value, out)
    elif isinstance(node, list):
        for item in node:
            _walk_text(item, out)


def blocks_text(blocks: Iterable[Any] | None) -> list[str]:
    """Every piece of visible text inside blocks, in reading order."""
    out: list[str] = []
    _walk_text(list(blocks or []), out)
    return out


def message_text(msg: Any) -> str:
    """Render a message (stand-in record or plain dict) to the text a person would read.

    The top-level ``text`` comes first, then the text of every block and attachment, one per
    line, so tests can assert on what a human sees regardless of how the bot laid it out.
    """
    if isinstance(msg, Mapping):
        text, blocks, attachments = msg.get("text"), msg.get("blocks"), msg.get("attachments")
    else:
        text = getattr(msg, "text", None)
        blocks = getattr(msg, "blocks", None)
        attachments = getattr(msg, "attachments", None)
    parts: list[str] = [text] if isinstance(text, str) and text else []
    parts.extend(blocks_text(blocks))
    for attachment in attachments or []:
        if isinstance(attachment, Mapping):
            for key in ("pretext", "title", "text"):
                if isinstance(attachment.get(key), str) and attachment[key]:
                    parts.append(attachment[key])
            parts.extend(blocks_text(attachment.get("blocks")))
    return "\n".join(parts)
