"""The Socket Mode side of the stand-in: a websocket that speaks Slack's envelope protocol.

Slack pushes ``{"envelope_id", "type", "payload", "accepts_response_payload"}`` to the app and
expects ``{"envelope_id", "payload"?}`` back within three seconds. Tests push envelopes with
:meth:`SocketModeHub.send_envelope` and await the app's acknowledgement with
:meth:`SocketModeHub.wait_for_ack`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

__all__ = ["Ack", "EnvelopeType", "SocketModeHub"]

log = logging.getLogger(__name__)

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]

# Slack asks for a response payload only where one can change what the user sees next.
_RESPONSE_PAYLOAD_INTERACTIONS = frozenset(("view_submission", "block_suggestion"))


@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None
    sent_at: float
    acked_at: float

    @property
    def latency(self) -> float:
        return self.acked_at - self.sent_at


@dataclass
class _Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    sent_at: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ack: Ack | None = None


class SocketModeHub:
    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.tickets: set[str] = set()
        self.connections: list[web.WebSocketResponse] = []
        self.envelopes: dict[str, _Envelope] = {}
        self.unexpected: list[Any] = []
        self.connect_count = 0
        self._connected = asyncio.Event()

    def issue_ticket(self) -> str:
        ticket = secrets.token_hex(8)
        self.tickets.add(ticket)
        return ticket

    @property
    def acks(self) -> dict[str, Ack]:
        return {eid: env.ack for eid, env in self.envelopes.items() if env.ack is not None}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self.tickets:
            return web.json_response({"ok": False, "error": "invalid_auth"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        self.connect_count += 1
        self._connected.set()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_connections()),
                "debug_info": {
                    "host": "releasegate-standin",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    log.warning("socket mode connection error: %s", ws.exception())
        finally:
            if ws in self.connections:
                self.connections.remove(ws)
            if not self.open_connections():
                self._connected.clear()
        return ws

    def _on_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            self.unexpected.append(data)
            return
        envelope = self.envelopes.get(message.get("envelope_id", "")) if isinstance(message, dict) else None
        if envelope is None or envelope.ack is not None:
            self.unexpected.append(message)
            return
        payload = message.get("payload")
        envelope.ack = Ack(
            envelope_id=envelope.envelope_id,
            payload=payload if isinstance(payload, dict) else None,
            sent_at=envelope.sent_at,
            acked_at=time.monotonic(),
        )
        envelope.done.set()

    def open_connections(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.connections if not ws.closed]

    async def wait_for_connection(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def send_envelope(
        self,
        type: EnvelopeType,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        connect_timeout: float = 5.0,
        connection: int | None = None,
    ) -> str:
        await self.wait_for_connection(connect_timeout)
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive" and payload.get("type") in _RESPONSE_PAYLOAD_INTERACTIONS
            )
        envelope_id = str(uuid.uuid4())
        message: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            message.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        # Slack picks one of the app's open connections; unless told which, the newest (the one a
        # test just opened).
        ws = self.open_connections()[-1 if connection is None else connection]
        self.envelopes[envelope_id] = _Envelope(envelope_id, type, payload, time.monotonic())
        await ws.send_json(message)
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, timeout: float = 3.0) -> Ack:
        """The app's acknowledgement; raises TimeoutError if it does not come within ``timeout``."""
        envelope = self.envelopes[envelope_id]
        await asyncio.wait_for(envelope.done.wait(), timeout)
        assert envelope.ack is not None
        return envelope.ack

    async def disconnect_all(self, reason: str = "refresh_requested") -> None:
        """Ask clients to reconnect the way Slack does before recycling a socket."""
        for ws in self.open_connections():
            await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}})
            await ws.close()

    async def close(self) -> None:
        for ws in list(self.connections):
            await ws.close()
        self.connections.clear()
