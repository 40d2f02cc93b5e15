"""Every Block Kit limit the stand-in enforces comes back as Slack's invalid_blocks with a json-pointer."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn, message_text, validate_blocks, validate_view


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def button(text: str = "Approve", action_id: str = "approve", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain(text), "action_id": action_id, **extra}


def confirm(**overrides: Any) -> dict[str, Any]:
    base = {"title": plain("Sure?"), "text": plain("Really"), "confirm": plain("Yes"), "deny": plain("No")}
    return {**base, **overrides}


# (blocks, expected message) — one case per limit.
MESSAGE_CASES: list[tuple[str, list[dict[str, Any]], str]] = [
    (
        "too many blocks",
        [{"type": "divider"}] * 51,
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]",
    ),
    (
        "section text",
        [section("x" * 3001)],
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        "too many fields",
        [{"type": "section", "fields": [plain("f")] * 11}],
        "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/fields]",
    ),
    (
        "field length",
        [{"type": "section", "fields": [plain("f"), plain("y" * 2001)]}],
        "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/1/text]",
    ),
    (
        "header length",
        [{"type": "header", "text": plain("h" * 151)}],
        "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]",
    ),
    (
        "header mrkdwn",
        [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
        "[ERROR] must be plain_text [json-pointer:/blocks/0/text/type]",
    ),
    (
        "block_id length",
        [section("a", block_id="b" * 256)],
        "[ERROR] must be less than 256 characters [json-pointer:/blocks/0/block_id]",
    ),
    (
        "duplicate block_id",
        [section("a", block_id="gate"), section("b", block_id="gate")],
        "[ERROR] duplicate block_id: gate [json-pointer:/blocks/1/block_id]",
    ),
    (
        "too many actions",
        [{"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(26)]}],
        "[ERROR] no more than 25 items allowed [json-pointer:/blocks/0/elements]",
    ),
    (
        "button text",
        [{"type": "actions", "elements": [button("b" * 76)]}],
        "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
    ),
    (
        "action_id length",
        [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
        "[ERROR] must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
    ),
    (
        "duplicate action_id",
        [{"type": "actions", "elements": [button(), button("Reject")]}],
        "[ERROR] duplicate action_id: approve [json-pointer:/blocks/0/elements/1/action_id]",
    ),
    (
        "button value",
        [{"type": "actions", "elements": [button(value="v" * 2001)]}],
        "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
    ),
    (
        "button style",
        [{"type": "actions", "elements": [button(style="green")]}],
        "[ERROR] must be one of primary, danger [json-pointer:/blocks/0/elements/0/style]",
    ),
    (
        "context elements",
        [{"type": "context", "elements": [plain("c")] * 11}],
        "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/elements]",
    ),
    (
        "image without url",
        [{"type": "image", "alt_text": "chart"}],
        "[ERROR] must provide either image_url or slack_file [json-pointer:/blocks/0/image_url]",
    ),
    (
        "image without alt_text",
        [{"type": "image", "image_url": "https://example.com/a.png"}],
        "[ERROR] must be provided [json-pointer:/blocks/0/alt_text]",
    ),
    (
        "alt_text length",
        [{"type": "image", "image_url": "https://example.com/a.png", "alt_text": "a" * 2001}],
        "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/alt_text]",
    ),
    (
        "input without element",
        [{"type": "input", "label": plain("Reason")}],
        "[ERROR] must be provided [json-pointer:/blocks/0/element]",
    ),
    (
        "input without label",
        [{"type": "input", "element": {"type": "plain_text_input", "action_id": "r"}}],
        "[ERROR] must be provided [json-pointer:/blocks/0/label]",
    ),
    (
        "plain_text_input max_length",
        [
            {
                "type": "input",
                "label": plain("Reason"),
                "element": {"type": "plain_text_input", "action_id": "r", "max_length": 3001},
            }
        ],
        "[ERROR] must be at most 3000 [json-pointer:/blocks/0/element/max_length]",
    ),
    (
        "text object type",
        [{"type": "section", "text": {"type": "markdown", "text": "x"}}],
        "[ERROR] must be one of plain_text, mrkdwn [json-pointer:/blocks/0/text/type]",
    ),
    (
        "confirm title",
        [{"type": "actions", "elements": [button(confirm=confirm(title=plain("t" * 101)))]}],
        "[ERROR] must be less than 101 characters [json-pointer:/blocks/0/elements/0/confirm/title/text]",
    ),
    (
        "confirm text",
        [{"type": "actions", "elements": [button(confirm=confirm(text=plain("t" * 301)))]}],
        "[ERROR] must be less than 301 characters [json-pointer:/blocks/0/elements/0/confirm/text/text]",
    ),
    (
        "confirm button",
        [{"type": "actions", "elements": [button(confirm=confirm(confirm=plain("c" * 31)))]}],
        "[ERROR] must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/confirm/text]",
    ),
    (
        "deny button",
        [{"type": "actions", "elements": [button(confirm=confirm(deny=plain("d" * 31)))]}],
        "[ERROR] must be less than 31 characters [json-pointer:/blocks/0/elements/0/confirm/deny/text]",
    ),
    (
        "unknown block type",
        [{"type": "carousel"}],
        "[ERROR] unsupported block type: carousel [json-pointer:/blocks/0/type]",
    ),
]


@pytest.mark.parametrize(("blocks", "expected"), [c[1:] for c in MESSAGE_CASES], ids=[c[0] for c in MESSAGE_CASES])
async def test_message_block_limits(
    standin: SlackStandIn, client: AsyncWebClient, blocks: list[dict[str, Any]], expected: str
) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0RELEASES", text="fallback", blocks=blocks)
    assert err.value.response["error"] == "invalid_blocks"
    assert expected in err.value.response["response_metadata"]["messages"]
    assert standin.messages("C0RELEASES") == []
    assert len(standin.rejected_calls) == 1


async def test_limits_apply_to_update_and_ephemeral(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0RELEASES", text="ok")
    too_long = [section("x" * 3001)]
    for call in (
        client.chat_update(channel="C0RELEASES", ts=posted["ts"], text="t", blocks=too_long),
        client.chat_postEphemeral(channel="C0RELEASES", user="U0ALICE001", text="t", blocks=too_long),
    ):
        with pytest.raises(SlackApiError) as err:
            await call
        assert err.value.response["error"] == "invalid_blocks"


async def test_limits_are_inclusive(standin: SlackStandIn, client: AsyncWebClient) -> None:
    blocks = [
        {"type": "header", "text": plain("h" * 150)},
        section("x" * 3000, block_id="b" * 255),
        {"type": "section", "fields": [plain("y" * 2000)] * 10},
        {
            "type": "actions",
            "elements": [button("b" * 75, action_id=f"a{i}", value="v" * 2000, style="danger") for i in range(25)],
        },
        {"type": "context", "elements": [plain("c")] * 10},
        {"type": "image", "image_url": "https://example.com/a.png", "alt_text": "a" * 2000},
    ] + [{"type": "divider"}] * 44
    assert len(blocks) == 50
    await client.chat_postMessage(channel="C0RELEASES", text="t" * 40000, blocks=blocks)
    standin.assert_no_rejections()


async def test_message_text_limit(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0RELEASES", text="t" * 40001)
    assert err.value.response["error"] == "msg_too_long"


async def test_blocks_as_form_encoded_string(standin: SlackStandIn) -> None:
    async with aiohttp.ClientSession() as session:
        form = {"channel": "C0RELEASES", "text": "t", "blocks": json.dumps([section("x" * 3001)])}
        headers = {"Authorization": "Bearer xoxb-form"}
        async with session.post(standin.base_url + "chat.postMessage", data=form, headers=headers) as resp:
            body = await resp.json()
        assert body["error"] == "invalid_blocks"
        form["blocks"] = "[not json"
        async with session.post(standin.base_url + "chat.postMessage", data=form, headers=headers) as resp:
            assert (await resp.json())["error"] == "invalid_blocks_format"


def modal(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "modal",
        "title": plain("Reject"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "label": plain("Why?"),
                "element": {"type": "plain_text_input", "action_id": "r"},
            }
        ],
    }
    return {**base, **overrides}


VIEW_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "title",
        modal(title=plain("t" * 25)),
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]",
    ),
    (
        "submit",
        modal(submit=plain("s" * 25)),
        "[ERROR] must be less than 25 characters [json-pointer:/view/submit/text]",
    ),
    (
        "close",
        modal(close=plain("c" * 25)),
        "[ERROR] must be less than 25 characters [json-pointer:/view/close/text]",
    ),
    (
        "callback_id",
        modal(callback_id="c" * 256),
        "[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]",
    ),
    (
        "private_metadata",
        modal(private_metadata="m" * 3001),
        "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]",
    ),
    (
        "too many blocks",
        modal(blocks=[{"type": "divider"}] * 101),
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]",
    ),
    (
        "block inside view",
        modal(blocks=[section("x" * 3001)]),
        "[ERROR] must be less than 3001 characters [json-pointer:/view/blocks/0/text/text]",
    ),
]


@pytest.mark.parametrize(("view", "expected"), [c[1:] for c in VIEW_CASES], ids=[c[0] for c in VIEW_CASES])
async def test_view_limits(standin: SlackStandIn, client: AsyncWebClient, view: dict[str, Any], expected: str) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=standin.new_trigger_id(), view=view)
    assert err.value.response["error"] == "invalid_arguments"
    assert expected in err.value.response["response_metadata"]["messages"]
    assert standin.views == {}


async def test_view_with_100_blocks_is_fine(standin: SlackStandIn, client: AsyncWebClient) -> None:
    view = modal(title=plain("t" * 24), blocks=[{"type": "divider"}] * 99 + modal()["blocks"])
    await client.views_open(trigger_id=standin.new_trigger_id(), view=view)
    standin.assert_no_rejections()


def test_validators_accept_a_realistic_gate_message() -> None:
    blocks = [
        {"type": "header", "text": plain("Preview: summer-hero")},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*visual_diff*\n:white_check_mark: pass"}]},
        {"type": "image", "image_url": "https://example.com/chart.png", "alt_text": "LCP p75 chart"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "owner <@U0REVIEWER>"}]},
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                button("Approve", "approve", style="primary", value="r1"),
                button("Reject", "reject", style="danger", value="r1", confirm=confirm()),
            ],
        },
    ]
    assert validate_blocks(blocks) == []
    assert validate_view(modal()) == []
    rendered = message_text({"text": "Preview results", "blocks": blocks})
    assert rendered.splitlines()[0] == "Preview results"
    for visible in ("Preview: summer-hero", "visual_diff", "owner <@U0REVIEWER>", "Approve", "Reject"):
        assert visible in rendered
    assert "Sure?" not in rendered  # the confirm dialog is not on screen until clicked
    assert "LCP p75 chart" not in rendered


def test_modal_with_inputs_needs_submit() -> None:
    view = modal()
    del view["submit"]
    assert validate_view(view) == ["[ERROR] must provide submit when using input blocks [json-pointer:/view/submit]"]
