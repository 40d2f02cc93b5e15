"""The webhook engine against a local receiver that checks the HMAC like an operator's would."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.traffic.protocol import Split, TrafficError
from bot.traffic.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook, sign, verify

SECRET = "s3cret-shared-with-the-edge"


@dataclass
class Receiver:
    url: str = ""
    # Status codes to answer in turn; then 200 forever.
    script: list[int] = field(default_factory=list)
    delay_first: float = 0.0
    hits: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[..., Any]]:
    runners: list[web.AppRunner] = []

    async def make(**kw: Any) -> Receiver:
        r = Receiver(**kw)

        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            r.hits.append({"headers": dict(request.headers), "body": raw, "at": time.monotonic()})
            if len(r.hits) == 1 and r.delay_first:
                await asyncio.sleep(r.delay_first)
            # Check the signature exactly as documented, independently of bot.traffic.webhook.
            ts = request.headers[TIMESTAMP_HEADER]
            expected = "v1=" + hmac.new(SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers[SIGNATURE_HEADER], expected) or abs(time.time() - int(ts)) > 300:
                r.bad_signatures += 1
                return web.json_response({"error": "bad signature"}, status=401)
            if r.script:
                status = r.script.pop(0)
                if status != 200:
                    return web.json_response({"error": "busy"}, status=status)
            r.accepted.append(json.loads(raw))
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_post("/traffic", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        r.url = f"http://127.0.0.1:{runner.addresses[0][1]}/traffic"
        return r

    yield make
    for runner in runners:
        await runner.cleanup()


async def test_signed_body_is_accepted_and_verifiable(receiver: Callable[..., Any]) -> None:
    r: Receiver = await receiver()
    hook = Webhook(r.url, SECRET, backoff=0.01)
    await hook.apply(Split("summer-hero", "global", 25.0, {"eu": 0.75, "us": 0.25}, "step 1 of 3"))
    assert r.bad_signatures == 0 and len(r.hits) == 1
    assert r.accepted == [
        {
            "release": "summer-hero",
            "phase": "global",
            "percent": 25.0,
            "regions": {"eu": 37.5, "us": 12.5},
            "allocation": {"eu": 0.75, "us": 0.25},
            "reason": "step 1 of 3",
        }
    ]
    hit = r.hits[0]
    assert hit["headers"][SIGNATURE_HEADER].startswith("v1=") and len(hit["headers"][SIGNATURE_HEADER]) == 67
    assert verify(SECRET.encode(), hit["headers"], hit["body"])
    # Any change to the body, the secret or the timestamp breaks the signature; old ones are refused.
    assert not verify(SECRET.encode(), hit["headers"], hit["body"].replace(b"25.0", b"100.0"))
    assert not verify(b"other", hit["headers"], hit["body"])
    assert not verify(SECRET.encode(), hit["headers"], hit["body"], now=time.time() + 3600)


async def test_the_body_carries_the_approved_digest_and_image_hashes(receiver: Callable[..., Any]) -> None:
    r: Receiver = await receiver()
    digest, sha = "ab" * 32, "cd" * 32
    await Webhook(r.url, SECRET, backoff=0.01).apply(
        Split("summer-hero", "canary", 5.0, {}, "step 1", bundle_digest=digest, images={"hero-desktop": sha})
    )
    assert r.accepted[0]["bundle_digest"] == digest and r.accepted[0]["images"] == {"hero-desktop": sha}
    assert verify(SECRET.encode(), r.hits[0]["headers"], r.hits[0]["body"])


async def test_wrong_secret_is_refused_and_not_retried(receiver: Callable[..., Any]) -> None:
    r: Receiver = await receiver()
    hook = Webhook(r.url, "not-the-secret", backoff=0.01)
    with pytest.raises(TrafficError, match="HTTP 401"):
        await hook.apply(Split("summer-hero", "canary", 5.0, {}, "step 1"))
    assert r.bad_signatures == 1 and len(r.hits) == 1  # a 4xx is final: retrying cannot fix it


async def test_500_then_200_is_retried_with_the_same_delivery_id(receiver: Callable[..., Any]) -> None:
    r: Receiver = await receiver(script=[500])
    hook = Webhook(r.url, SECRET, backoff=0.2)
    await hook.apply(Split("summer-hero", "canary", 10.0, {}, "step 2 of 2"))
    assert [a["percent"] for a in r.accepted] == [10.0]
    assert len(r.hits) == 2 and r.bad_signatures == 0
    assert r.hits[0]["headers"][DELIVERY_HEADER] == r.hits[1]["headers"][DELIVERY_HEADER]
    gap = r.hits[1]["at"] - r.hits[0]["at"]
    assert 0.18 <= gap < 1.5, gap  # waited the first backoff before retrying


async def test_timeouts_and_429_are_retried(receiver: Callable[..., Any]) -> None:
    r: Receiver = await receiver(script=[200], delay_first=1.0)
    hook = Webhook(r.url, SECRET, timeout=0.3, backoff=0.01)
    await hook.apply(Split("summer-hero", "canary", 5.0, {}, "step 1"))
    assert len(r.hits) == 2  # the first one timed out on our side
    r2: Receiver = await receiver(script=[429, 503])
    await Webhook(r2.url, SECRET, backoff=0.01).apply(Split("summer-hero", "canary", 5.0, {}, "step 1"))
    assert len(r2.hits) == 3 and len(r2.accepted) == 1


async def test_persistent_5xx_raises_traffic_error_after_all_attempts(receiver: Callable[..., Any]) -> None:
    r: Receiver = await receiver(script=[502, 502, 502, 502, 502])
    hook = Webhook(r.url, SECRET, attempts=3, backoff=0.01)
    with pytest.raises(TrafficError, match="failed after 3 attempts: HTTP 502"):
        await hook.apply(Split("summer-hero", "canary", 5.0, {}, "step 1"))
    assert len(r.hits) == 3 and r.accepted == []
    assert [hook.delay(n) for n in (1, 2, 3)] == [0.01, 0.02, 0.04]


async def test_unreachable_receiver_raises_traffic_error() -> None:
    hook = Webhook("http://127.0.0.1:9/traffic", SECRET, attempts=2, backoff=0.01, timeout=1)
    with pytest.raises(TrafficError, match="failed after 2 attempts"):
        await hook.apply(Split("summer-hero", "canary", 5.0, {}, "step 1"))


def test_signature_format_and_empty_secret() -> None:
    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign(b"k", "1700000000", b"{}") == f"v1={expected}"
    with pytest.raises(ValueError):
        Webhook("http://127.0.0.1:1/", "")
