"""In-memory workspace of the Slack stand-in: what Slack would have stored and shown.

Everything here is plain Python so tests can look at it directly: channels and their messages
(with threads and edit history), ephemerals, DMs, files, modals, users, user groups and the log
of every Web API call the bot made.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.demo.standin.blockkit import message_text

__all__ = [
    "CallRecord",
    "Channel",
    "Edit",
    "Ephemeral",
    "FileRecord",
    "Message",
    "ResponseUrlRecord",
    "SlackState",
    "ViewRecord",
]

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


@dataclass
class Edit:
    """A previous version of a message, kept so tests can see what chat.update replaced."""

    text: str
    blocks: list[dict[str, Any]] | None
    replaced_at: float


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    user: str | None = None
    bot_id: str | None = None
    username: str | None = None
    reply_broadcast: bool = False
    metadata: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def rendered(self) -> str:
        return message_text(self)

    def to_api(self, team_id: str, app_id: str) -> dict[str, Any]:
        """The message object as Slack returns it inside chat.postMessage / chat.update answers."""
        out: dict[str, Any] = {"type": "message", "text": self.text, "ts": self.ts}
        if self.bot_id:
            out.update(user=self.user, bot_id=self.bot_id, app_id=app_id, team=team_id)
        elif self.user:
            out["user"] = self.user
        if self.username:
            out["username"] = self.username
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.attachments:
            out["attachments"] = self.attachments
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.metadata:
            out["metadata"] = self.metadata
        if self.files:
            out["files"] = [{"id": file_id} for file_id in self.files]
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class Ephemeral:
    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None

    @property
    def rendered(self) -> str:
        return message_text(self)


@dataclass
class Channel:
    id: str
    name: str
    is_im: bool = False
    user: str | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass
class FileRecord:
    id: str
    name: str
    length: int
    title: str | None = None
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None
    uploaded: bool = False
    completed: bool = False
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class ViewRecord:
    id: str
    view: dict[str, Any]
    trigger_id: str | None
    hash: str
    external_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        title = self.view.get("title")
        return str(title.get("text", "")) if isinstance(title, dict) else ""

    @property
    def rendered(self) -> str:
        return message_text({"blocks": self.view.get("blocks")})


@dataclass
class ResponseUrlRecord:
    """A ``response_url`` the stand-in handed out for a slash command or interaction payload."""

    id: str
    channel: str
    user: str
    message_ts: str | None = None
    uses: int = 0


@dataclass
class CallRecord:
    method: str
    args: dict[str, Any]
    response: dict[str, Any] | None
    status: int
    at: float
    http_method: str = "POST"
    fault: str | None = None
    unknown_args: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


class SlackState:
    """The workspace the stand-in pretends to be. Mutated only by the server's handlers and setup calls."""

    def __init__(
        self,
        *,
        team_id: str = "T0STANDIN1",
        team_name: str = "Releasegate Stand-in",
        workspace_url: str = "https://releasegate-standin.slack.com/",
        bot_user_id: str = "U0RGBOT001",
        bot_id: str = "B0RGBOT001",
        bot_name: str = "releasegate",
        app_id: str = "A0STANDIN1",
        strict: bool = False,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.workspace_url = workspace_url
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        # Strict workspaces answer like real Slack for names nobody registered; lenient ones
        # create channels and accept well-formed user ids on first use so short tests need no setup.
        self.strict = strict
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.ephemeral_messages: list[Ephemeral] = []
        self.files: dict[str, FileRecord] = {}
        self.views: dict[str, ViewRecord] = {}
        self.calls: list[CallRecord] = []
        self.used_trigger_ids: set[str] = set()
        self.response_urls: dict[str, ResponseUrlRecord] = {}
        self._ids = itertools.count(1)
        self._last_us = 0
        self._listeners: list[Callable[[], None]] = []
        self.add_user(bot_user_id, bot_name, "Releasegate", is_bot=True)

    # -- ids and clocks ------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08X}"

    def new_ts(self) -> str:
        """A Slack message timestamp, strictly increasing so ordering and lookups are unambiguous."""
        now_us = time.time_ns() // 1000
        self._last_us = max(now_us, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def new_trigger_id(self) -> str:
        """A trigger id shaped like Slack's, for tests that build interaction payloads."""
        return f"{int(time.time())}.{next(self._ids)}.{next(self._ids):032x}"

    # -- setup ---------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        *,
        tz: str = "UTC",
        tz_label: str | None = None,
        tz_offset: int = 0,
        email: str | None = None,
        is_bot: bool = False,
        is_admin: bool = False,
        deleted: bool = False,
        display_name: str | None = None,
    ) -> dict[str, Any]:
        real = real_name or name
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real,
            "tz": tz,
            "tz_label": tz_label or tz,
            "tz_offset": tz_offset,
            "is_admin": is_admin,
            "is_bot": is_bot,
            "is_app_user": False,
            "profile": {
                "real_name": real,
                "display_name": display_name if display_name is not None else name,
                "real_name_normalized": real,
                "display_name_normalized": display_name if display_name is not None else name,
                "email": email or f"{name}@example.com",
                "team": self.team_id,
            },
        }
        self.users[user_id] = user
        return user

    def add_usergroup(self, usergroup_id: str, members: Iterable[str]) -> None:
        self.usergroups[usergroup_id] = list(members)

    def add_channel(self, name: str, channel_id: str | None = None) -> str:
        """Register a public channel; returns its id. Names may be given with or without '#'."""
        name = name.lstrip("#")
        existing = self.channel_id(name)
        if existing is not None:
            return existing
        cid = channel_id or self.new_id("C")
        self.channels[cid] = Channel(id=cid, name=name)
        self._changed()
        return cid

    # -- lookups used by handlers --------------------------------------------------------------

    def channel_id(self, ref: str) -> str | None:
        """Resolve a channel id, '#name' or 'name' to a known channel id."""
        if ref in self.channels:
            return ref
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel.id
        return None

    def resolve_channel(self, ref: str) -> Channel | None:
        """Find, or in lenient mode create, the channel a call names. User ids mean the DM with them."""
        cid = self.channel_id(ref)
        if cid is not None:
            return self.channels[cid]
        if self.is_user_ref(ref) and (not self.strict or ref in self.users):
            return self.channels[self.open_dm(ref)]
        if self.strict or not ref:
            return None
        if _CHANNEL_ID.match(ref):
            if ref.startswith("D"):
                return None  # DMs exist only via conversations.open.
            self.channels[ref] = Channel(id=ref, name=ref.lower())
            return self.channels[ref]
        return self.channels[self.add_channel(ref)]

    def is_user_ref(self, ref: str) -> bool:
        return bool(_USER_ID.match(ref))

    def user_known(self, user_id: str) -> bool:
        return user_id in self.users or (not self.strict and self.is_user_ref(user_id))

    def open_dm(self, user_id: str) -> str:
        for channel in self.channels.values():
            if channel.is_im and channel.user == user_id:
                return channel.id
        cid = self.new_id("D")
        self.channels[cid] = Channel(id=cid, name=cid, is_im=True, user=user_id)
        self._changed()
        return cid

    def find_message(self, channel: str, ts: str) -> Message | None:
        cid = self.channel_id(channel)
        if cid is None:
            return None
        return next((m for m in self.channels[cid].messages if m.ts == ts), None)

    # -- inspection for tests ------------------------------------------------------------------

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        """Messages in a channel as its timeline shows them: top level plus broadcast replies."""
        cid = self.channel_id(channel)
        if cid is None:
            return []
        msgs = self.channels[cid].messages
        return [m for m in msgs if include_replies or not m.is_reply or m.reply_broadcast]

    def all_messages(self) -> list[Message]:
        return sorted((m for c in self.channels.values() for m in c.messages), key=lambda m: m.ts)

    def message(self, channel: str, ts: str) -> Message:
        found = self.find_message(channel, ts)
        if found is None:
            raise KeyError(f"no message {ts} in {channel}")
        return found

    def replies(self, channel: str, thread_ts: str, *, include_parent: bool = False) -> list[Message]:
        cid = self.channel_id(channel)
        if cid is None:
            return []
        return [
            m
            for m in self.channels[cid].messages
            if (m.thread_ts == thread_ts and m.ts != thread_ts) or (include_parent and m.ts == thread_ts)
        ]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        cid = None if channel is None else (self.channel_id(channel) or channel)
        return [
            e for e in self.ephemeral_messages if (cid is None or e.channel == cid) and (user is None or e.user == user)
        ]

    def dm_channel(self, user_id: str) -> str | None:
        return next((c.id for c in self.channels.values() if c.is_im and c.user == user_id), None)

    def dms(self, user_id: str) -> list[Message]:
        cid = self.dm_channel(user_id)
        return [] if cid is None else list(self.channels[cid].messages)

    def files_in(self, channel: str, thread_ts: str | None = None) -> list[FileRecord]:
        cid = self.channel_id(channel) or channel
        return [
            f
            for f in self.files.values()
            if f.completed and f.channel == cid and (thread_ts is None or f.thread_ts == thread_ts)
        ]

    def calls_to(self, method: str) -> list[CallRecord]:
        return [c for c in self.calls if c.method == method]

    @property
    def rejected_calls(self) -> list[CallRecord]:
        """Calls Slack would have refused because of what the bot sent (injected faults excluded)."""
        return [c for c in self.calls if c.fault is None and c.response is not None and not c.ok]

    def assert_no_rejections(self) -> None:
        rejected = self.rejected_calls
        if rejected:
            lines = [f"{c.method}: {c.response} args={c.args}" for c in rejected]
            raise AssertionError("Slack stand-in rejected calls:\n" + "\n".join(lines))

    def transcript(self) -> str:
        """Everything Slack would show, channel by channel, threads indented, as plain text."""
        out: list[str] = []
        for channel in self.channels.values():
            title = f"DM with {channel.user}" if channel.is_im else f"#{channel.name}"
            out.append(f"=== {title} ({channel.id})")
            for msg in self.messages(channel.id):
                out.append(_render_line(msg, ""))
                for reply in self.replies(channel.id, msg.ts):
                    out.append(_render_line(reply, "    ↳ "))
            for eph in self.ephemerals(channel.id):
                body = eph.rendered.replace("\n", "\n      ")
                out.append(f"[{eph.message_ts}] (only visible to {eph.user}) {body}")
            out.append("")
        return "\n".join(out)

    # -- change notification -------------------------------------------------------------------

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()


def _render_line(msg: Message, prefix: str) -> str:
    who = msg.username or msg.user or "?"
    body = msg.rendered.replace("\n", "\n" + " " * (len(prefix) + 4))
    extra = f" [files: {', '.join(msg.files)}]" if msg.files else ""
    edited = " (edited)" if msg.edits else ""
    return f"{prefix}[{msg.ts}] {who}: {body}{extra}{edited}"
