"""The door in front of ``POST /slack/events``: size first, then Slack's signature, before anything
parses or logs the body.

Bolt verifies signatures too, but only after it has read the whole body and logged it at INFO when
the check fails (a 20 MB unsigned POST became a 20-million-character log line), and a timestamp
like ``abc`` or a non-ASCII signature made its verifier raise (a 500 with a traceback). Here a
refusal is a 4xx and one log line with the size and a hash of what was sent, never its content.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

SLACK_PATH = "/slack/events"
# Slash commands, clicks and view submissions are a few KB; the largest Events API payloads are well
# under this. Anything bigger is not from Slack.
MAX_SLACK_BODY = 1024 * 1024
MAX_SKEW_SECONDS = 5 * 60
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def signature_problem(secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float) -> str | None:
    """Why the request is not Slack's, or None. Pure: bytes in, no decoding that could raise."""
    if not timestamp or not (timestamp.isascii() and timestamp.isdigit()):
        return "missing or malformed X-Slack-Request-Timestamp"
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return "stale X-Slack-Request-Timestamp"
    if not signature or not signature.isascii() or not _SIGNATURE.fullmatch(signature):
        return "missing or malformed X-Slack-Signature"
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return "signature does not match"
    return None


def slack_guard(
    signing_secret: str | None, clock: Callable[[], float] = time.time
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        # Socket Mode has no signing secret: requests arrive over our own authenticated websocket.
        if request.path != SLACK_PATH or request.method != "POST" or not signing_secret:
            return await handler(request)
        length = request.content_length
        if length is None:
            return web.json_response({"error": "Content-Length is required"}, status=411)
        if length > MAX_SLACK_BODY:
            log.warning("refused a %d-byte request to %s: over %d bytes", length, SLACK_PATH, MAX_SLACK_BODY)
            return web.json_response({"error": "request body too large"}, status=413)
        body = await request.read()
        problem = signature_problem(
            signing_secret,
            body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
            clock(),
        )
        if problem is not None:
            log.warning(
                "refused an unsigned request to %s (%s): %d bytes, sha256 %s",
                SLACK_PATH,
                problem,
                len(body),
                hashlib.sha256(body).hexdigest()[:16],
            )
            return web.json_response({"error": "invalid request signature"}, status=401)
        return await handler(request)

    return guard
