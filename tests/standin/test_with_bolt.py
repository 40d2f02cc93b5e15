"""A Bolt AsyncApp in Socket Mode runs against the stand-in: auth, command ack, respond, post."""

from __future__ import annotations

from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn


async def test_bolt_socket_mode_round_trip(standin: SlackStandIn) -> None:
    web = AsyncWebClient(token="xoxb-bolt", base_url=standin.base_url)
    app = AsyncApp(client=web)

    @app.command("/release")
    async def release(ack: Any, respond: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await respond(text=f"Starting {command['text']}")
        await client.chat_postMessage(channel=command["channel_id"], text=f"Preview started: {command['text']}")

    handler = AsyncSocketModeHandler(app, "xapp-1-A0STANDIN1-bolt", web_client=web)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        command = {
            "command": "/release",
            "text": "summer-hero",
            "user_id": "U0ALICE001",
            "channel_id": "C0RELEASES",
            "team_id": standin.state.team_id,
            "api_app_id": standin.state.app_id,
            "trigger_id": standin.new_trigger_id(),
            "response_url": standin.new_response_url("C0RELEASES", "U0ALICE001"),
        }
        envelope_id = await standin.send_envelope("slash_commands", command)
        await standin.wait_for_ack(envelope_id, timeout=3)
        msg = await standin.wait_for_message("C0RELEASES", contains="Preview started", timeout=5)
        assert msg.text == "Preview started: summer-hero"
        eph = await standin.wait_for(lambda: standin.ephemerals("C0RELEASES", user="U0ALICE001"), timeout=5)
        assert eph[0].text == "Starting summer-hero"
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        if web.session is not None:
            await web.session.close()
    standin.assert_no_rejections()
