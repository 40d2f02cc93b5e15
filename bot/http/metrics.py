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
from bot.preview.bundle import check_name
from gates.metrics import BatchResult, validate_batch
from storage.metrics import MetricsStore

log = logging.getLogger(__name__)

MAX_ITEMS: Final = 10_000
# 10,000 web-vitals objects with attribution are a few MB; this leaves room and no more.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
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


# Longer integer literals are read as floats: Python refuses to convert integers of more than 4,300
# digits (a ValueError for the whole body), and a 400-digit int overflows float(); as a float such a
# value is simply infinite or absurd, which validation refuses for that item alone.
_MAX_INT_DIGITS: Final = 30
# Deeper than this, an item is refused with a reason instead of being parsed at all.
MAX_DEPTH: Final = 32


def _int_or_float(digits: str) -> int | float:
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else float(digits)


def _loads(text: str | bytes) -> Any:
    # NaN/Infinity literals are allowed through here on purpose: they are per-item mistakes that
    # validate_item rejects with a reason, not a reason to refuse the whole batch.
    return json.loads(text, parse_int=_int_or_float)


class TooDeep:
    """Stands in for an item nested deeper than MAX_DEPTH; validation refuses it with this reason."""

    reason = f"item is nested deeper than {MAX_DEPTH} levels"


def _array_items(text: str) -> list[tuple[str, int]] | None:
    """Each element of the batch's array (the top-level array, or the ``samples`` array of a top-level
    object) as raw text with its nesting depth, found by scanning; None if there is no such array.

    Used only when the body cannot be parsed whole (an item nested thousands of levels deep), so that
    one such item is refused and the others are still read."""
    n, i, depth = len(text), 0, 0
    target: int | None = None
    items: list[tuple[str, int]] = []
    start, deepest, key, expect_key = -1, 0, None, False
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if target is None and depth == 1 and expect_key:
                key = text[i + 1 : j]
            i = j + 1
            continue
        if c in "[{":
            if target is None and c == "[" and (depth == 0 or (depth == 1 and key == "samples")):
                target = depth + 1
                i += 1
                depth += 1
                start, deepest = i, depth
                continue
            depth += 1
            deepest = max(deepest, depth)
            expect_key = c == "{" and depth == 1
        elif c in "]}":
            if target is not None and depth == target:
                chunk = text[start:i].strip()
                if chunk:
                    items.append((chunk, deepest - target))
                return items
            depth -= 1
        elif c == "," and target is not None and depth == target:
            items.append((text[start:i].strip(), deepest - target))
            start, deepest = i + 1, depth
        elif c == "," and depth == 1 and target is None:
            expect_key = True
        elif c == ":" and depth == 1:
            expect_key = False
        i += 1
    return None


def _parse_items_one_by_one(body: bytes) -> list[Any]:
    text = body.decode("utf-8")
    found = _array_items(text)
    if found is None:
        raise BadBatch(400, f"JSON nested deeper than {MAX_DEPTH} levels outside the samples array")
    out: list[Any] = []
    for chunk, depth in found:
        if depth > MAX_DEPTH:
            out.append(TooDeep())
            continue
        try:
            out.append(_loads(chunk))
        except (json.JSONDecodeError, ValueError, RecursionError):
            out.append(TooDeep())
    return out


def parse_body(body: bytes) -> Parsed:
    """The items of a batch and the release names they mention, or :class:`BadBatch`."""
    if not body.strip():
        raise BadBatch(400, 'empty body: send a JSON array of samples or {"samples": [...]}')
    try:
        doc = _loads(body)
    except UnicodeDecodeError:
        raise BadBatch(400, "body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise BadBatch(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        doc = _parse_items_one_by_one(body)
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
    # Only names a release could have are looked up; validation refuses the rest item by item.
    releases = {
        r
        for item in doc
        if isinstance(item, dict) and isinstance(r := item.get("release"), str) and check_name(r) is None
    }
    return Parsed(doc, releases)


def add_metrics_routes(app: web.Application, ctx: HttpContext) -> None:
    store = MetricsStore(ctx.engine)

    async def post_metrics(request: web.Request) -> web.Response:
        # Judged on the declared size, before a byte is buffered: a 63 MB body used to cost 360 MB of
        # memory before its 413.
        if request.content_length is None:
            return web.json_response({"error": "Content-Length is required"}, status=411)
        if request.content_length > MAX_BODY_BYTES:
            return web.json_response(
                {"error": f"body is over {MAX_BODY_BYTES:,} bytes; send at most {MAX_ITEMS:,} samples per request"},
                status=413,
            )
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
        # Items that could not even be parsed get their own reason, at their own index.
        too_deep = {i for i, item in enumerate(parsed.items) if isinstance(item, TooDeep)}
        rejected = [
            {
                "index": i,
                "reason": TooDeep.reason if i in too_deep else r.reason,
                "field": None if i in too_deep else r.field,
            }
            for i, r in result.rejected
        ]
        valid = len(parsed.items) - len(result.rejected)
        return web.json_response(
            {
                "received": len(parsed.items),
                "accepted": valid,
                # Accepted items superseded by a later report of the same web-vitals id in this batch.
                "superseded": valid - stored,
                "rejected": rejected,
            },
            status=202,
        )

    app.router.add_post("/api/v1/metrics", post_metrics)
