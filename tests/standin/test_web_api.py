"""The stand-in answers slack_sdk's real AsyncWebClient the way Slack would."""

from __future__ import annotations

import json

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn, message_text


async def test_base_url_has_trailing_slash(standin: SlackStandIn) -> None:
    assert standin.base_url.startswith("http://127.0.0.1:")
    assert standin.base_url.endswith("/api/")


async def test_auth_test_identifies_the_bot(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.auth_test()
    assert resp["ok"] is True
    assert resp["user_id"] == standin.state.bot_user_id
    assert resp["bot_id"] == standin.state.bot_id
    assert resp["team_id"] == standin.state.team_id


async def test_bad_tokens_are_refused(standin: SlackStandIn) -> None:
    bad = AsyncWebClient(token="nope", base_url=standin.base_url)
    with pytest.raises(SlackApiError) as err:
        await bad.auth_test()
    assert err.value.response["error"] == "invalid_auth"
    app = AsyncWebClient(token="xapp-1-abc", base_url=standin.base_url)
    with pytest.raises(SlackApiError) as err:
        await app.chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "not_allowed_token_type"
    assert len(standin.rejected_calls) == 2


async def test_configured_tokens_only() -> None:
    async with SlackStandIn(bot_tokens={"xoxb-right"}) as server:
        wrong = AsyncWebClient(token="xoxb-wrong", base_url=server.base_url)
        with pytest.raises(SlackApiError) as err:
            await wrong.auth_test()
        assert err.value.response["error"] == "invalid_auth"
        right = AsyncWebClient(token="xoxb-right", base_url=server.base_url)
        assert (await right.auth_test())["ok"]


async def test_form_encoded_call_with_token_param(standin: SlackStandIn) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}]
    async with aiohttp.ClientSession() as session:
        form = {
            "token": "xoxb-form",
            "channel": "#releases",
            "text": "fallback",
            "blocks": json.dumps(blocks),
        }
        async with session.post(standin.base_url + "chat.postMessage", data=form) as resp:
            body = await resp.json()
    assert body["ok"] is True, body
    [msg] = standin.messages("#releases")
    assert msg.blocks == blocks
    assert body["channel"] == standin.state.channel_id("releases")


async def test_unknown_method(standin: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.explode", json={"channel": "C1"})
    assert err.value.response.data == {"ok": False, "error": "unknown_method"}


async def test_missing_required_argument(standin: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.postMessage", json={"text": "no channel"})
    assert err.value.response.data == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": ["[ERROR] missing required field: channel"]},
    }
    assert [c.method for c in standin.rejected_calls] == ["chat.postMessage"]


async def test_post_update_and_history(standin: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0RELEASES", text="Preview started")
    assert posted["ok"] and posted["channel"] == "C0RELEASES"
    assert posted["message"]["text"] == "Preview started"
    assert posted["message"]["bot_id"] == standin.state.bot_id
    ts = posted["ts"]
    updated = await client.chat_update(
        channel="C0RELEASES",
        ts=ts,
        text="Preview passed",
        blocks=[{"type": "header", "text": {"type": "plain_text", "text": "Preview passed"}}],
    )
    assert updated["ts"] == ts and updated["text"] == "Preview passed"
    msg = standin.state.message("C0RELEASES", ts)
    assert msg.text == "Preview passed"
    assert [e.text for e in msg.edits] == ["Preview started"]
    assert "Preview passed" in message_text(msg)
    standin.assert_no_rejections()


async def test_update_unknown_message(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0RELEASES", text="x")
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel="C0RELEASES", ts="1.000001", text="y")
    assert err.value.response["error"] == "message_not_found"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_needs_text_or_blocks(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C0RELEASES")
    assert err.value.response["error"] == "no_text"


async def test_strict_channels() -> None:
    async with SlackStandIn(strict=True) as server:
        web = AsyncWebClient(token="xoxb-t", base_url=server.base_url)
        with pytest.raises(SlackApiError) as err:
            await web.chat_postMessage(channel="#nowhere", text="hi")
        assert err.value.response["error"] == "channel_not_found"
        cid = server.add_channel("releases")
        assert (await web.chat_postMessage(channel="#releases", text="hi"))["channel"] == cid


async def test_threads(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0RELEASES", text="Canary started")
    for i in range(2):
        await client.chat_postMessage(channel="C0RELEASES", thread_ts=parent["ts"], text=f"step {i}")
    await client.chat_postMessage(channel="C0RELEASES", text="other")
    assert [m.text for m in standin.replies("C0RELEASES", parent["ts"])] == ["step 0", "step 1"]
    assert [m.text for m in standin.messages("C0RELEASES")] == ["Canary started", "other"]
    link = await client.chat_getPermalink(
        channel="C0RELEASES", message_ts=standin.replies("C0RELEASES", parent["ts"])[0].ts
    )
    assert f"thread_ts={parent['ts']}" in link["permalink"]


async def test_ephemeral(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C0RELEASES", user="U0ALICE001", text="Usage: /release help")
    assert resp["message_ts"]
    [eph] = standin.ephemerals("C0RELEASES", user="U0ALICE001")
    assert eph.text == "Usage: /release help"
    assert standin.messages("C0RELEASES") == []


async def test_dm_via_conversations_open(standin: SlackStandIn, client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users="U0BACKUP01")
    cid = opened["channel"]["id"]
    assert cid.startswith("D")
    assert (await client.conversations_open(users=["U0BACKUP01"]))["channel"]["id"] == cid
    await client.chat_postMessage(channel=cid, text="You are the backup approver")
    assert [m.text for m in standin.dms("U0BACKUP01")] == ["You are the backup approver"]
    with pytest.raises(SlackApiError) as err:
        await client.conversations_open(users="S0SREGROUP")
    assert err.value.response["error"] == "user_not_found"


async def test_users_and_usergroups(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.add_user("U0SRE00001", "sre", "Sam Reliability", tz="Europe/Berlin", tz_offset=3600)
    standin.add_usergroup("S0SREGROUP", ["U0SRE00001", "U0SRE00002"])
    info = await client.users_info(user="U0SRE00001")
    assert info["user"]["real_name"] == "Sam Reliability"
    assert info["user"]["tz"] == "Europe/Berlin"
    assert info["user"]["profile"]["real_name"] == "Sam Reliability"
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U0NOBODY01")
    assert err.value.response["error"] == "user_not_found"
    group = await client.usergroups_users_list(usergroup="S0SREGROUP")
    assert group["users"] == ["U0SRE00001", "U0SRE00002"]
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_users_list(usergroup="S0MISSING1")
    assert err.value.response["error"] == "no_such_subteam"


MODAL = {
    "type": "modal",
    "callback_id": "reject_reason",
    "title": {"type": "plain_text", "text": "Reject Canary"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Why?"},
            "element": {
                "type": "plain_text_input",
                "action_id": "text",
                "multiline": True,
                "max_length": 500,
            },
        }
    ],
}


async def test_views_open_and_update(standin: SlackStandIn, client: AsyncWebClient) -> None:
    trigger = standin.new_trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    view_id = opened["view"]["id"]
    assert opened["view"]["callback_id"] == "reject_reason"
    assert standin.views[view_id].trigger_id == trigger
    updated = await client.views_update(
        view_id=view_id, view={**MODAL, "title": {"type": "plain_text", "text": "Done"}}
    )
    assert updated["view"]["title"]["text"] == "Done"
    assert standin.views[view_id].title == "Done"
    assert len(standin.views[view_id].history) == 1
    with pytest.raises(SlackApiError) as err:
        await client.views_open(trigger_id=trigger, view=MODAL)
    assert err.value.response["error"] == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as err:
        await client.views_update(view_id="V0NOPE", view=MODAL)
    assert err.value.response["error"] == "not_found"


async def test_call_log_records_everything(standin: SlackStandIn, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0RELEASES", text="hi")
    [call] = standin.calls
    assert call.method == "chat.postMessage" and call.status == 200 and call.ok
    assert call.args["channel"] == "C0RELEASES"
    assert "token" not in call.args
    assert call.response is not None and call.response["ts"]


async def test_wait_for_message(standin: SlackStandIn, client: AsyncWebClient) -> None:
    import asyncio

    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C0RELEASES", text="Global approved")

    task = asyncio.create_task(later())
    msg = await standin.wait_for_message("C0RELEASES", contains="approved", timeout=2)
    await task
    assert msg.text == "Global approved"
    with pytest.raises(TimeoutError):
        await standin.wait_for_message("C0RELEASES", contains="never", timeout=0.1)


async def test_transcript_shows_threads_and_ephemerals(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="#releases", text="Preview started")
    await client.chat_postMessage(channel="#releases", thread_ts=parent["ts"], text="gates passed")
    await client.chat_postEphemeral(channel="#releases", user="U0ALICE001", text="only you")
    transcript = standin.transcript()
    assert "#releases" in transcript and "↳" in transcript and "only visible to U0ALICE001" in transcript
