"""Every request the stand-in answers goes through here: logged, maybe failed on purpose, answered.

The Web API, the byte upload and response_url posts all share one call log and one fault plan,
so tests can inject a fault into any of them and read back what the bot sent.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from bot.demo.standin.context import Context
from bot.demo.standin.faults import FaultKind
from bot.demo.standin.state import CallRecord

__all__ = ["answer", "maybe_fail", "text_answer"]


def answer(ctx: Context, record: CallRecord, body: dict[str, Any], status: int = 200) -> web.Response:
    record.response = body
    record.status = status
    ctx.state.calls.append(record)
    ctx.notify()
    return web.json_response(body, status=status, headers={"X-Slack-Req-Id": secrets.token_hex(8)})


def text_answer(
    ctx: Context, record: CallRecord, status: int, text: str, messages: list[str] | None = None
) -> web.Response:
    """Slack answers uploads and response_url posts in plain text; the log still gets a dict."""
    record.status = status
    record.response = {"ok": status == 200, "body": text}
    if status != 200:
        record.response["error"] = text
    if messages:
        record.response["response_metadata"] = {"messages": messages}
    ctx.state.calls.append(record)
    ctx.notify()
    return web.Response(status=status, text=text, content_type="text/plain")


async def maybe_fail(ctx: Context, request: web.Request, record: CallRecord, method: str) -> web.StreamResponse | None:
    """The failure response if Slack is down or an injected fault fires for this call, else None."""
    kind: FaultKind | None = ctx.refusing
    fault = None
    if kind is None:
        fault = ctx.faults.pick(method)
        kind = None if fault is None else fault.kind
    if kind is None:
        return None
    record.fault = "refused" if fault is None else kind
    record.at = time.time()
    if kind == "drop":
        record.status = 0
        ctx.state.calls.append(record)
        ctx.notify()
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()  # never delivered: the connection is already gone
    if kind == "rate_limited":
        retry_after = fault.retry_after if fault is not None else 1
        response = answer(ctx, record, {"ok": False, "error": "ratelimited"}, status=429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    status = fault.status if fault is not None else 503
    return answer(ctx, record, {"ok": False, "error": "internal_error"}, status=status)
