"""People clicking in Slack, simulated: signed slash commands, button clicks and modal submissions
shaped like Slack's payloads, sent over real HTTP to ``/slack/events``. Used by ``demo`` and tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

TEAM = {"id": "T0DEMO0001", "domain": "releasegate-demo"}


def sign(secret: str, timestamp: str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackUsers:
    """Sends what Slack would send when a person acts. ``url`` is the bot's /slack/events."""

    def __init__(self, url: str, signing_secret: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.secret = signing_secret
        self.session = session

    async def send_form(
        self,
        form: dict[str, str],
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        body = urlencode(form)
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature if signature is not None else sign(self.secret, ts, body)
        h = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        async with self.session.post(self.url, data=body.encode(), headers=h) as resp:
            return Answer(resp.status, await resp.text())

    def slash_form(
        self, user: str, text: str, channel: str = "C0RELEASES", command: str = "/release"
    ) -> dict[str, str]:
        return {
            "token": "legacy-verification-token-unused",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": "releases",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0RELEASEG",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0DEMO0001/1/unused",
            "trigger_id": f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:20]}",
        }

    async def slash(self, user: str, text: str, channel: str = "C0RELEASES", **kw: Any) -> Answer:
        return await self.send_form(self.slash_form(user, text, channel), **kw)

    async def click(self, user: str, **button: Any) -> Answer:
        """A button click over HTTP; ``button`` as :meth:`click_payload` takes it."""
        return await self.send_form({"payload": json.dumps(self.click_payload(user, **button))})

    def click_payload(
        self,
        user: str,
        *,
        channel: str,
        message: dict[str, Any],
        action_id: str,
        value: str,
        block_id: str = "",
        trigger_id: str | None = None,
    ) -> dict[str, Any]:
        """The ``block_actions`` payload Slack sends for a button click (over HTTP or Socket Mode)."""
        return {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0RELEASEG",
            "token": "legacy-verification-token-unused",
            "container": {
                "type": "message",
                "message_ts": message.get("ts"),
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": trigger_id or f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:20]}",
            "team": TEAM,
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "releases"},
            "message": message,
            "state": {"values": {}},
            "response_url": "https://hooks.slack.com/actions/T0DEMO0001/1/unused",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                }
            ],
        }

    async def submit_view(self, user: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> Answer:
        submitted = {**view, "state": {"values": values}, "team_id": TEAM["id"]}
        payload = {
            "type": "view_submission",
            "team": TEAM,
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0RELEASEG",
            "token": "legacy-verification-token-unused",
            "trigger_id": f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex[:20]}",
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self.send_form({"payload": json.dumps(payload)})


def find_button(message: dict[str, Any], action_id: str) -> tuple[str, str] | None:
    """(block_id, value) of a button in a message's blocks, as a person would find it."""
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            for el in block.get("elements", []):
                if el.get("action_id") == action_id:
                    return str(block.get("block_id", "")), str(el.get("value", ""))
    return None
