"""Safe mrkdwn: user text is escaped so that `<!channel>` or `<http://x|y>` reach Slack as text."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

SECTION_LIMIT = 3000


def esc(text: str | None) -> str:
    if text is None:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_or_group: str) -> str:
    """Mention a user (U…/W…) or a user group (S…); IDs come from the policy, never from input."""
    if user_or_group.startswith("S"):
        return f"<!subteam^{user_or_group}>"
    return f"<@{user_or_group}>"


def mentions(ids: Iterable[str]) -> str:
    return ", ".join(mention(i) for i in ids) or "nobody"


def when(at: datetime) -> str:
    """A Slack date token: shown in each reader's own time zone, with a UTC fallback."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def clip(text: str, limit: int = SECTION_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 2] + " …"


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def context(text: str) -> dict[str, object]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def header(text: str) -> dict[str, object]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, 150), "emoji": True}}


def plain(text: str, limit: int = 75) -> dict[str, object]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def markdown_to_mrkdwn(md: str) -> str:
    """The report's Markdown summary as Slack shows it: headings and **bold** become *bold*.

    The text is escaped first: it carries titles and comments that users wrote.
    """
    import re

    out: list[str] = []
    in_table = False
    # Entities the Markdown already carries (its writer escaped user text) stay as they are; escaping
    # them again made Slack show "&lt;" literally. Raw <, > and & are escaped as always.
    safe = re.sub(r"&(?!(?:amp|lt|gt);)", "&amp;", md).replace("<", "&lt;").replace(">", "&gt;")
    for line in safe.splitlines():
        # Slack has no tables: keep their columns aligned in a code block instead.
        is_row = line.startswith("|")
        if is_row != in_table:
            out.append("```")
            in_table = is_row
        if is_row:
            out.append(line)
            continue
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            line = f"*{heading.group(1)}*"
        out.append(re.sub(r"\*\*(.+?)\*\*", r"*\1*", line))
    if in_table:
        out.append("```")
    return "\n".join(out)
