"""What a message says: text, blocks and attachments, checked the way Slack checks them.

chat.postMessage, chat.update, chat.postEphemeral and response_url posts all carry message
content, so the checks live here rather than with any one of them.
"""

from __future__ import annotations

import time
from typing import Any

from bot.demo.standin.blockkit import MAX_MESSAGE_BLOCKS, MAX_MESSAGE_TEXT, validate_blocks
from bot.demo.standin.errors import SlackError, json_field
from bot.demo.standin.state import Edit, Message

__all__ = ["edit_of", "message_content"]


def message_content(args: dict[str, Any], *, required: bool = True) -> tuple[str | None, Any, Any]:
    """Text, blocks and attachments of a message call, validated as Slack would."""
    blocks = json_field(args, "blocks", "invalid_blocks_format")
    attachments = json_field(args, "attachments", "invalid_attachments")
    text = args.get("text")
    markdown = args.get("markdown_text")
    if markdown:
        if text or blocks:
            raise SlackError("markdown_text_conflict")
        text = markdown
    if text is not None and not isinstance(text, str):
        text = str(text)
    if required and not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text and len(text) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        errors = validate_blocks(blocks, max_blocks=MAX_MESSAGE_BLOCKS)
        if errors:
            raise SlackError("invalid_blocks", errors)
    if attachments is not None and not isinstance(attachments, list):
        raise SlackError("invalid_attachments")
    return text, blocks, attachments


def edit_of(msg: Message) -> Edit:
    """The version a change is about to replace, kept so tests can see what was overwritten."""
    return Edit(text=msg.text, blocks=msg.blocks, replaced_at=time.time())
