"""Webhook engine: POST each split to a URL the operator's own traffic system listens on.

Request
    ``POST <url>`` with ``Content-Type: application/json`` and the body::

        {"release": "summer-hero", "phase": "canary", "percent": 5.0,
         "regions": {"eu": 5.0, "us": 5.0},        # percent per region (empty: everywhere alike)
         "allocation": {"eu": 0.5, "us": 0.5},     # the ratios those come from
         "reason": "step 1 of 2"}

Headers
    ``X-Releasegate-Timestamp``  Unix time in whole seconds when the request was signed.
    ``X-Releasegate-Signature``  ``v1=<hex>``: HMAC-SHA256, keyed with the shared secret, over the
                                 bytes ``<timestamp> + "." + <raw body>``.
    ``X-Releasegate-Delivery``   One id per split, the same on every retry of it (deduplicate on it).

A receiver recomputes the HMAC over the raw body it received (not a re-serialisation), compares
in constant time, and refuses timestamps more than a few minutes old so that a captured request
cannot be replayed later. :func:`verify` does exactly that and is what our tests use.

Delivery is retried with exponential backoff on 5xx, 429, timeouts and connection errors; any
other non-2xx is final. When every attempt failed the engine raises ``TrafficError``: the
lifecycle then holds the ramp at the recorded split and says why in the release thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Mapping

import aiohttp

from bot.traffic.allocation import region_percents
from bot.traffic.protocol import Split, TrafficError

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Releasegate-Timestamp"
SIGNATURE_HEADER = "X-Releasegate-Signature"
DELIVERY_HEADER = "X-Releasegate-Delivery"
SIGNATURE_VERSION = "v1"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def verify(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: float | None = None, tolerance: float = 300.0
) -> bool:
    """Receiver side: the signature matches this body and the timestamp is fresh."""
    ts = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not ts.isdigit() or not given:
        return False
    if abs((time.time() if now is None else now) - int(ts)) > tolerance:
        return False
    return hmac.compare_digest(given, sign(secret, ts, body))


def body_for(split: Split) -> bytes:
    payload = {
        "release": split.release,
        "phase": split.phase,
        "percent": float(split.percent),
        "regions": region_percents(split.percent, split.regions),
        "allocation": dict(split.regions),
        "reason": split.reason,
    }
    if split.bundle_digest:
        # What was approved: the receiver can refuse to serve any image whose bytes differ.
        payload |= {"bundle_digest": split.bundle_digest, "images": dict(split.images)}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


class _Retryable(Exception):
    pass


class Webhook:
    """The ``TrafficController`` that POSTs signed splits."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        attempts: int = 4,
        timeout: float = 5.0,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        if not secret:
            # An unsigned request would let anyone who finds the URL move production traffic.
            raise ValueError("the webhook engine needs a non-empty secret")
        self.url = url
        self._secret = secret.encode()
        self.attempts = max(1, attempts)
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    async def apply(self, split: Split) -> None:
        body = body_for(split)
        delivery = uuid.uuid4().hex
        last = "no attempt made"
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(1, self.attempts + 1):
                try:
                    await self._post(session, body, delivery)
                    return
                except _Retryable as exc:
                    last = str(exc)
                if attempt < self.attempts:
                    log.warning(
                        "webhook %s attempt %d/%d for %s failed (%s); retrying",
                        self.url,
                        attempt,
                        self.attempts,
                        split.release,
                        last,
                    )
                    await asyncio.sleep(self.delay(attempt))
        raise TrafficError(f"webhook {self.url} failed after {self.attempts} attempts: {last}")

    async def _post(self, session: aiohttp.ClientSession, body: bytes, delivery: str) -> None:
        # Signed per attempt: a receiver that rejects stale timestamps must still accept a late retry.
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(self._secret, ts, body),
            DELIVERY_HEADER: delivery,
            "User-Agent": "releasegate-webhook/1",
        }
        try:
            async with session.post(self.url, data=body, headers=headers) as resp:
                text = (await resp.text(errors="replace"))[:200]
                if 200 <= resp.status < 300:
                    return
                if resp.status >= 500 or resp.status == 429:
                    raise _Retryable(f"HTTP {resp.status} {text}".strip())
                raise TrafficError(f"webhook {self.url} answered HTTP {resp.status}: {text}".strip())
        except TimeoutError:
            raise _Retryable(f"no answer within {self.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
