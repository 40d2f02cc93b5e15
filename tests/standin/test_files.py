"""slack_sdk's files_upload_v2 flow works end to end against the stand-in."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


async def test_files_upload_v2_into_a_thread(standin: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0RELEASES", text="Canary results")
    resp = await client.files_upload_v2(
        channel="C0RELEASES",
        thread_ts=parent["ts"],
        content=PNG,
        filename="lcp.png",
        title="LCP p75",
        alt_txt="LCP chart",
        initial_comment="Charts for step 1",
    )
    assert resp["ok"]
    file_id = resp["file"]["id"]
    record = standin.files[file_id]
    assert record.content == PNG and record.name == "lcp.png" and record.title == "LCP p75"
    assert record.channel == "C0RELEASES" and record.thread_ts == parent["ts"]
    assert record.alt_txt == "LCP chart"
    [reply] = standin.replies("C0RELEASES", parent["ts"])
    assert reply.files == [file_id] and reply.text == "Charts for step 1"
    assert standin.state.files_in("C0RELEASES", parent["ts"]) == [record]
    assert [c.method for c in standin.calls][1:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    info = await client.files_info(file=file_id)
    assert info["file"]["size"] == len(PNG)
    assert info["file"]["mimetype"] == "image/png"
    assert info["file"]["shares"]["public"]["C0RELEASES"][0]["thread_ts"] == parent["ts"]
    async with aiohttp.ClientSession() as session, session.get(info["file"]["url_private"]) as download:
        assert await download.read() == PNG
    standin.assert_no_rejections()


async def test_multiple_files_at_once(standin: SlackStandIn, client: AsyncWebClient) -> None:
    resp = await client.files_upload_v2(
        channel="C0RELEASES",
        file_uploads=[
            {"content": b"a" * 10, "filename": "a.webp", "title": "A"},
            {"content": b"b" * 20, "filename": "b.webp", "title": "B"},
        ],
    )
    assert [f["title"] for f in resp["files"]] == ["A", "B"]
    [msg] = standin.messages("C0RELEASES")
    assert len(msg.files) == 2


async def test_multipart_upload_is_accepted(standin: SlackStandIn, client: AsyncWebClient) -> None:
    url = await client.files_getUploadURLExternal(filename="diff.png", length=3)
    form = aiohttp.FormData()
    form.add_field("file", b"xyz", filename="diff.png", content_type="image/png")
    async with aiohttp.ClientSession() as session, session.post(url["upload_url"], data=form) as resp:
        assert resp.status == 200
        assert await resp.text() == "OK - 3"
    await client.files_completeUploadExternal(files=[{"id": url["file_id"], "title": "diff"}], channel_id="C1")
    assert standin.files[url["file_id"]].content == b"xyz"


async def test_completing_without_upload_fails(client: AsyncWebClient) -> None:
    url = await client.files_getUploadURLExternal(filename="x.png", length=3)
    with pytest.raises(SlackApiError) as err:
        await client.files_completeUploadExternal(files=[{"id": url["file_id"]}], channel_id="C1")
    assert err.value.response["error"] == "file_not_found"


async def test_file_info_unknown(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.files_info(file="F0NOPE")
    assert err.value.response["error"] == "file_not_found"
