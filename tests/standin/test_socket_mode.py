"""slack_sdk's real aiohttp SocketModeClient connects, gets hello, receives envelopes and acks them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSMessage
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn


async def test_hello_envelope_and_ack(standin: SlackStandIn) -> None:
    web = AsyncWebClient(base_url=standin.base_url)
    client = SocketModeClient(app_token="xapp-1-A0STANDIN1-test", web_client=web)
    received: list[SocketModeRequest] = []
    raw: list[dict[str, Any]] = []

    async def on_raw(message: WSMessage) -> None:
        raw.append(json.loads(message.data))

    async def on_request(sm: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        payload = {"text": "Usage: /release help"} if req.type == "slash_commands" else None
        await sm.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))

    client.on_message_listeners.append(on_raw)
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()  # type: ignore[no-untyped-call]
        await standin.socket.wait_for_connection(timeout=5)
        command = {"command": "/release", "text": "help", "user_id": "U0ALICE001", "channel_id": "C0RELEASES"}
        envelope_id = await standin.send_envelope("slash_commands", command)
        ack = await standin.wait_for_ack(envelope_id, timeout=5)
        assert ack.payload == {"text": "Usage: /release help"}
        assert ack.latency >= 0

        action = {"type": "block_actions", "actions": [{"action_id": "approve", "value": "r1"}]}
        second = await standin.send_envelope("interactive", action)
        assert (await standin.wait_for_ack(second, timeout=5)).payload is None
    finally:
        await client.close()  # type: ignore[no-untyped-call]
        if web.session is not None:
            await web.session.close()

    assert raw[0]["type"] == "hello"
    assert raw[0]["connection_info"]["app_id"] == standin.state.app_id
    assert [r.type for r in received] == ["slash_commands", "interactive"]
    assert received[0].payload == command
    assert received[0].accepts_response_payload is True
    assert received[1].accepts_response_payload is False
    assert [c.method for c in standin.calls] == ["apps.connections.open"]


async def test_connections_open_wants_an_app_token(standin: SlackStandIn) -> None:
    from slack_sdk.errors import SlackApiError

    web = AsyncWebClient(base_url=standin.base_url)
    with pytest.raises(SlackApiError) as err:
        await web.apps_connections_open(app_token="xoxb-bot")
    assert err.value.response["error"] == "not_allowed_token_type"
    resp = await web.apps_connections_open(app_token="xapp-1-ok")
    assert resp["url"].startswith("ws://127.0.0.1:")
    if web.session is not None:
        await web.session.close()


async def test_unacked_envelope_times_out(standin: SlackStandIn) -> None:
    web = AsyncWebClient(base_url=standin.base_url)
    client = SocketModeClient(app_token="xapp-1-test", web_client=web)
    try:
        await client.connect()  # type: ignore[no-untyped-call]
        envelope_id = await standin.send_envelope("events_api", {"event": {"type": "app_mention"}})
        with pytest.raises(asyncio.TimeoutError):
            await standin.wait_for_ack(envelope_id, timeout=0.2)
    finally:
        await client.close()  # type: ignore[no-untyped-call]
        if web.session is not None:
            await web.session.close()
