"""Injected failures look to slack_sdk exactly like a bad day at Slack."""

from __future__ import annotations

import contextlib

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn


async def test_rate_limited_with_retry_after(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.inject_fault("chat.postMessage", "rate_limited", count=1, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]  # the fault was used up
    assert [c.status for c in standin.calls] == [429, 200]
    assert standin.calls[0].fault == "rate_limited"
    assert standin.rejected_calls == []  # faults are ours, not the bot's mistakes


async def test_fault_only_hits_its_method(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.inject_fault("chat.update", "server_error", count=5)
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]


async def test_server_error(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.inject_fault(None, "server_error", count=1)
    with pytest.raises(SlackApiError) as err:
        await client.auth_test()
    assert err.value.response.status_code == 500


async def test_dropped_connection(standin: SlackStandIn, client: AsyncWebClient) -> None:
    # slack_sdk retries a dropped connection once by default, so two drops reach the caller.
    standin.inject_fault("chat.postMessage", "drop", count=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="C1", text="hi")
    assert [(c.fault, c.status) for c in standin.calls] == [("drop", 0), ("drop", 0)]
    assert standin.messages("C1") == []


async def test_single_drop_is_retried_by_the_client(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.inject_fault("chat.postMessage", "drop", count=1)
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert len(standin.messages("C1")) == 1


async def test_rate_faults_are_repeatable(standin: SlackStandIn, client: AsyncWebClient) -> None:
    async def pattern(seed: int) -> list[int]:
        standin.clear_faults()
        standin.inject_fault("auth.test", "server_error", rate=0.5, seed=seed)
        start = len(standin.calls)
        for _ in range(20):
            with contextlib.suppress(SlackApiError):
                await client.auth_test()
        return [c.status for c in standin.calls[start:]]

    first = await pattern(3)
    assert first == await pattern(3)
    assert 200 in first and 500 in first


async def test_refuse_all(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.refuse_all()
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="hi")
    assert err.value.response.status_code == 503
    standin.refuse_all(False)
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]


async def test_clear_faults(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.inject_fault(None, "server_error", count=100)
    standin.clear_faults()
    assert (await client.auth_test())["ok"]
