"""The Slack outbox against the real stand-in and both databases: every owed message arrives once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.demo.standin import SlackStandIn
from bot.slack.outbox import OutboxFailed, OutboxSender
from storage.db import make_engine, upgrade
from storage.outbox import OutboxStore, enqueue, ref_channel, ref_ts
from storage.repo import Store

CHANNEL = "C0RELEASES"
OTHER = "C0OTHER001"
BACKUP = "U0BACKUP01"


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    server = SlackStandIn()
    # Channels exist before the bot posts in them, as in a real workspace.
    for name, cid in [("releases", CHANNEL), ("other", OTHER)] + [(f"chan{c}", f"C0CHAN{c:04d}") for c in range(8)]:
        server.state.add_channel(name, cid)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def outbox(store: Store) -> OutboxStore:
    return OutboxStore(store.engine)


def _client(base_url: str) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=base_url)


def _sender(outbox: OutboxStore, base_url: str, **kw: object) -> OutboxSender:
    opts: dict[str, object] = {"base_backoff": 0.02, "max_backoff": 0.3, "timeout": 3, "max_attempts": 40}
    opts.update(kw)
    return OutboxSender(outbox, _client(base_url), **opts)  # type: ignore[arg-type]


def _key_of(msg: object) -> str | None:
    meta = getattr(msg, "metadata", None) or {}
    payload = meta.get("event_payload") or {}
    return payload.get("key") or payload.get("releasegate_outbox_key")


async def _owe_a_release(outbox: OutboxStore, n_threads: int = 12) -> list[str]:
    """A root message, replies threaded under it, a DM, edits: what a release owes Slack."""
    keys = ["root"]
    async with outbox.sessions.begin() as s:
        await enqueue(s, "root", "chat.postMessage", {"channel": CHANNEL, "text": "release summer-hero"}, 1)
        for i in range(n_threads):
            await enqueue(
                s,
                f"reply-{i}",
                "chat.postMessage",
                {"channel": CHANNEL, "thread_ts": ref_ts("root"), "text": f"step {i}"},
                1,
            )
            keys.append(f"reply-{i}")
        await enqueue(s, "other", "chat.postMessage", {"channel": OTHER, "text": "elsewhere"}, 1)
        await enqueue(s, "dm", "chat.postMessage", {"channel": BACKUP, "text": "please decide"}, 1)
        await enqueue(
            s, "dm-edit", "chat.update", {"channel": ref_channel("dm"), "ts": ref_ts("dm"), "text": "decided by U0X"}, 1
        )
        await enqueue(
            s,
            "root-edit",
            "chat.update",
            {"channel": CHANNEL, "ts": ref_ts("root"), "text": "release summer-hero: done"},
            1,
        )
    return [*keys, "other", "dm"]


async def _deliver(sender: OutboxSender, outbox: OutboxStore, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while (await outbox.counts()).get("pending", 0):
            if not await sender.run_once():
                await asyncio.sleep(0.02)


def _assert_delivered_once(standin: SlackStandIn, keys: list[str]) -> None:
    landed = Counter(_key_of(m) for m in standin.state.all_messages())
    assert {k: landed[k] for k in keys} == dict.fromkeys(keys, 1)
    assert sum(landed.values()) == len(keys)


async def _assert_shape(standin: SlackStandIn, outbox: OutboxStore) -> None:
    rows = {r.idempotency_key: r for r in await outbox.rows()}
    assert {r.state for r in rows.values()} == {"sent"}
    root = standin.state.message(CHANNEL, rows["root"].result_ts or "")
    assert root.text == "release summer-hero: done"
    replies = standin.state.replies(CHANNEL, root.ts)
    # Per-channel FIFO: replies arrive in the order they were owed, each under the root.
    assert [m.text for m in replies] == [f"step {i}" for i in range(len(replies))]
    assert all(rows[f"reply-{i}"].result_ts == m.ts for i, m in enumerate(replies))
    dm = standin.state.dms(BACKUP)
    assert [m.text for m in dm] == ["decided by U0X"] and rows["dm"].result_channel == dm[0].channel


@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "drop"])
async def test_every_message_arrives_once_through_faults(standin: SlackStandIn, outbox: OutboxStore, kind: str) -> None:
    standin.inject_fault(None, kind, rate=0.2, seed=7, retry_after=0)  # type: ignore[arg-type]
    keys = await _owe_a_release(outbox)
    sender = _sender(outbox, standin.base_url)
    await _deliver(sender, outbox)
    assert any(c.fault == kind for c in standin.state.calls), "the fault never fired"
    _assert_delivered_once(standin, keys)
    await _assert_shape(standin, outbox)
    standin.state.assert_no_rejections()


async def test_mixed_faults_on_a_fifth_of_calls(standin: SlackStandIn, outbox: OutboxStore) -> None:
    # Three rules at ~7.2% each fail about 20% of all calls between them.
    for seed, kind in enumerate(("rate_limited", "server_error", "drop")):
        standin.inject_fault(None, kind, rate=0.072, seed=100 + seed, retry_after=0)  # type: ignore[arg-type]
    keys = await _owe_a_release(outbox, n_threads=30)
    await _deliver(_sender(outbox, standin.base_url), outbox)
    faults = Counter(c.fault for c in standin.state.calls if c.fault)
    assert len(faults) == 3
    _assert_delivered_once(standin, keys)
    await _assert_shape(standin, outbox)


@pytest.fixture
async def lossy_proxy(standin: SlackStandIn) -> AsyncIterator[tuple[str, list[int]]]:
    """Forwards to the stand-in but, for a fifth of postMessage calls, drops the connection *after*
    Slack posted the message: the reply is lost, the message is not. Returns (base_url, [drops])."""
    rng = random.Random(11)
    drops = [0]
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with session.request(
            request.method, standin.base_url + method, data=body, headers=headers, params=request.query
        ) as resp:
            payload = await resp.read()
            status, ctype = resp.status, resp.headers.get("Content-Type", "application/json")
            retry_after = resp.headers.get("Retry-After")
        if method == "chat.postMessage" and rng.random() < 0.2:
            drops[0] += 1
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPServiceUnavailable()
        out = web.Response(body=payload, status=status, headers={"Content-Type": ctype})
        if retry_after:
            out.headers["Retry-After"] = retry_after
        return out

    app = web.Application()
    app.router.add_route("*", "/api/{method}", forward)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/api/", drops
    finally:
        await runner.cleanup()
        await session.close()


async def test_lost_replies_do_not_duplicate(
    standin: SlackStandIn, outbox: OutboxStore, lossy_proxy: tuple[str, list[int]]
) -> None:
    base_url, drops = lossy_proxy
    keys = await _owe_a_release(outbox, n_threads=30)
    await _deliver(_sender(outbox, base_url), outbox)
    assert drops[0] >= 3
    _assert_delivered_once(standin, keys)
    await _assert_shape(standin, outbox)
    # Every lost reply was followed by a look before the re-post.
    checks = standin.state.calls_to("conversations.replies") + standin.state.calls_to("conversations.history")
    assert len([c for c in checks if c.fault is None]) >= drops[0]


async def test_crash_between_commit_and_send_delivers_once(standin: SlackStandIn, store: Store) -> None:
    # The process that committed is gone before any sender ran: only the row remains.
    async with store.sessions.begin() as s:
        assert await enqueue(s, "approval:1:post", "chat.postMessage", {"channel": CHANNEL, "text": "approve?"}, 1)
    await store.engine.dispose()

    engine = make_engine(str(store.engine.url.render_as_string(hide_password=False)))
    await upgrade(engine)
    restarted = OutboxStore(engine)
    sender = _sender(restarted, standin.base_url)
    await sender.start()
    try:
        row = await sender.wait_sent("approval:1:post", timeout=10)
    finally:
        await sender.stop()
        await engine.dispose()
    _assert_delivered_once(standin, ["approval:1:post"])
    assert standin.state.messages(CHANNEL)[0].ts == row.result_ts


async def test_crash_after_post_before_mark_sent(standin: SlackStandIn, outbox: OutboxStore) -> None:
    await outbox.enqueue("approval:2:post", "chat.postMessage", {"channel": CHANNEL, "text": "approve?"})
    now = datetime.now(UTC)
    # Sender A claims the row and its post lands, then A dies before recording the ts.
    [row] = await outbox.claim(now, worker_id="A", lease=timedelta(seconds=30))
    client = _client(standin.base_url)
    await client.chat_postMessage(
        channel=CHANNEL,
        text="approve?",
        metadata={"event_type": "releasegate_outbox", "event_payload": {"key": row.idempotency_key}},
    )
    assert await outbox.claim(now) == []  # still leased to A

    # After the lease a new sender picks it up, finds the message and records it instead of re-posting.
    later = _sender(outbox, standin.base_url, clock=lambda: now + timedelta(seconds=31))
    assert await later.run_once() == 1
    sent = await outbox.get("approval:2:post")
    assert sent is not None and sent.state == "sent" and sent.attempts == 2
    _assert_delivered_once(standin, ["approval:2:post"])
    assert sent.result_ts == standin.state.messages(CHANNEL)[0].ts


async def test_two_senders_share_the_work_and_send_once(
    standin: SlackStandIn, outbox: OutboxStore, db_url: str
) -> None:
    standin.inject_fault(None, "server_error", rate=0.1, seed=3)
    for c in range(8):
        async with outbox.sessions.begin() as s:
            for i in range(6):
                await enqueue(s, f"c{c}-m{i}", "chat.postMessage", {"channel": f"C0CHAN{c:04d}", "text": f"m{i}"})
    other_engine = make_engine(db_url)
    try:
        a = _sender(outbox, standin.base_url, worker_id="A")
        b = _sender(OutboxStore(other_engine), standin.base_url, worker_id="B")
        await asyncio.gather(_deliver(a, outbox), _deliver(b, outbox))
    finally:
        await other_engine.dispose()
    _assert_delivered_once(standin, [f"c{c}-m{i}" for c in range(8) for i in range(6)])
    for c in range(8):
        assert [m.text for m in standin.state.messages(f"C0CHAN{c:04d}")] == [f"m{i}" for i in range(6)]
    assert {r.claimed_by for r in await outbox.rows()} <= {None, "A", "B"}


async def test_permanent_error_fails_the_row_and_its_dependants(standin: SlackStandIn, outbox: OutboxStore) -> None:
    await outbox.enqueue("bad", "chat.postMessage", {"channel": CHANNEL, "blocks": "not json"})
    await outbox.enqueue("child", "chat.postMessage", {"channel": OTHER, "thread_ts": ref_ts("bad"), "text": "x"})
    sender = _sender(outbox, standin.base_url)
    await _deliver(sender, outbox, timeout=10)
    bad, child = await outbox.get("bad"), await outbox.get("child")
    assert bad is not None and bad.state == "failed" and "invalid_blocks" in (bad.error or "")
    assert child is not None and child.state == "failed" and "bad" in (child.error or "")
    with pytest.raises(OutboxFailed):
        await sender.wait_sent("child", timeout=2)
    assert standin.state.all_messages() == []


async def test_rate_limit_honours_retry_after(standin: SlackStandIn, outbox: OutboxStore) -> None:
    standin.inject_fault("chat.postMessage", "rate_limited", count=1, retry_after=2)
    await outbox.enqueue("m", "chat.postMessage", {"channel": CHANNEL, "text": "hi"})
    sender = _sender(outbox, standin.base_url)
    assert await sender.run_once() == 1
    row = await outbox.get("m")
    assert row is not None and row.state == "pending"
    assert row.next_attempt_at - datetime.now(UTC) > timedelta(seconds=1.5)
    assert await sender.run_once() == 0  # not before Retry-After


async def test_enqueue_is_idempotent_and_rolls_back_with_its_transaction(outbox: OutboxStore) -> None:
    assert await outbox.enqueue("k", "chat.postMessage", {"channel": CHANNEL, "text": "a"})
    assert not await outbox.enqueue("k", "chat.postMessage", {"channel": CHANNEL, "text": "b"})
    with pytest.raises(RuntimeError):
        async with outbox.sessions.begin() as s:
            await enqueue(s, "never", "chat.postMessage", {"channel": CHANNEL, "text": "x"})
            raise RuntimeError("the state change failed")
    assert await outbox.get("never") is None
    row = await outbox.get("k")
    assert row is not None and row.args["text"] == "a"
