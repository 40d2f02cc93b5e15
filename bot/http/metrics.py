"""``POST /api/v1/metrics``: real-user samples in (bearer auth comes from bot.http.api's middleware).

A batch is judged item by item: a bad item is reported with its index and reason and never
sinks the rest, and the answer is 202 only once every accepted sample is committed. If the
database write fails nothing was stored (one transaction) and the client gets 503 to retry the
whole batch, which is safe because web-vitals re-reports upsert by id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from bot.http.context import HttpContext
from gates.metrics import BatchResult, validate_batch
from storage.metrics import MetricsStore

log = logging.getLogger(__name__)

MAX_ITEMS: Final = 10_000
# Below this a thread hop costs more than it saves; above it, parsing and validating would hold
# the event loop (and every Slack ack behind it) for tens of milliseconds.
_THREAD_THRESHOLD: Final = 256 * 1024


class BadBatch(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Parsed:
    items: list[Any]
    releases: set[str]


def parse_body(body: bytes) -> Parsed:
    """The items of a batch and the release names they mention, or :class:`BadBatch`."""
    if not body.strip():
        raise BadBatch(400, 'empty body: send a JSON array of samples or {"samples": [...]}')
    try:
        # NaN/Infinity literals are allowed through here on purpose: they are per-item mistakes
        # that validate_item rejects with a reason, not a reason to refuse the whole batch.
        doc = json.loads(body)
    except UnicodeDecodeError:
        raise BadBatch(400, "body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BadBatch(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if isinstance(doc, dict):
        if "samples" not in doc:
            raise BadBatch(400, 'expected a JSON array of samples or an object with a "samples" array')
        doc = doc["samples"]
    if not isinstance(doc, list):
        raise BadBatch(400, f'"samples" must be an array, got {type(doc).__name__}')
    if len(doc) > MAX_ITEMS:
        raise BadBatch(
            413,
            f"batch has {len(doc):,} items; the limit is {MAX_ITEMS:,} per request, so split it into smaller batches",
        )
    releases = {r for item in doc if isinstance(item, dict) and isinstance(r := item.get("release"), str)}
    return Parsed(doc, releases)


def add_metrics_routes(app: web.Application, ctx: HttpContext) -> None:
    store = MetricsStore(ctx.engine)

    async def post_metrics(request: web.Request) -> web.Response:
        body = await request.read()
        big = len(body) > _THREAD_THRESHOLD
        try:
            parsed = await asyncio.to_thread(parse_body, body) if big else parse_body(body)
        except BadBatch as exc:
            return web.json_response({"error": exc.message}, status=exc.status)
        known = await store.known_releases(parsed.releases)
        result: BatchResult = (
            await asyncio.to_thread(validate_batch, parsed.items, known) if big else validate_batch(parsed.items, known)
        )
        try:
            stored = await store.insert(result.accepted, ctx.clock(), source="rum")
        except Exception:
            log.exception("storing %d metric samples failed", len(result.accepted))
            return web.json_response(
                {"error": "the samples could not be stored; nothing from this batch was kept, retry it"},
                status=503,
                headers={"Retry-After": "5"},
            )
        valid = len(parsed.items) - len(result.rejected)
        return web.json_response(
            {
                "received": len(parsed.items),
                "accepted": valid,
                # Accepted items superseded by a later report of the same web-vitals id in this batch.
                "superseded": valid - stored,
                "rejected": [{"index": i, "reason": r.reason, "field": r.field} for i, r in result.rejected],
            },
            status=202,
        )

    app.router.add_post("/api/v1/metrics", post_metrics)
