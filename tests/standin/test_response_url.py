"""response_url posts, as Bolt's respond() sends them, land where Slack would put them."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.demo.standin import SlackStandIn


async def test_ephemeral_in_channel_replace_and_delete(standin: SlackStandIn, client: AsyncWebClient) -> None:
    url = standin.new_response_url("C0RELEASES", "U0ALICE001")
    hook = AsyncWebhookClient(url)
    assert (await hook.send(text="Usage: /release start NAME")).status_code == 200
    [eph] = standin.ephemerals("C0RELEASES", user="U0ALICE001")
    assert eph.text == "Usage: /release start NAME"

    assert (await hook.send(text="Release started", response_type="in_channel")).status_code == 200
    assert [m.text for m in standin.messages("C0RELEASES")] == ["Release started"]

    posted = await client.chat_postMessage(channel="C0RELEASES", text="Approve?")
    action_url = standin.new_response_url("C0RELEASES", "U0ALICE001", message_ts=posted["ts"])
    action_hook = AsyncWebhookClient(action_url)
    assert (await action_hook.send(text="Approved by Alice", replace_original=True)).status_code == 200
    assert standin.message("C0RELEASES", posted["ts"]).text == "Approved by Alice"
    assert (await action_hook.send(delete_original=True)).status_code == 200
    assert [m.text for m in standin.messages("C0RELEASES")] == ["Release started"]
    standin.assert_no_rejections()


async def test_bad_blocks_and_overuse_are_rejected(standin: SlackStandIn) -> None:
    hook = AsyncWebhookClient(standin.new_response_url("C0RELEASES", "U0ALICE001"))
    bad = await hook.send(text="t", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert bad.status_code == 400 and bad.body == "invalid_blocks"
    [rejected] = standin.rejected_calls
    assert rejected.method == "response_url"
    assert rejected.response is not None
    assert rejected.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]"
    ]
    for _ in range(5):
        assert (await hook.send(text="ok")).status_code == 200
    assert (await hook.send(text="sixth")).body == "used_url"
    expired = AsyncWebhookClient(standin.base_url.replace("/api/", "/respond/nope"))
    assert (await expired.send(text="x")).status_code == 404
