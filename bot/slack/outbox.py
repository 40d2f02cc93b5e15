"""Delivers the Slack outbox (``storage.outbox``): claim rows, call Slack, record the result.

Retries with exponential backoff on 429 (waiting at least Retry-After, and holding back every row
of that method meanwhile), 5xx, timeouts and dropped connections; Slack's own ``ok: false`` errors
that retrying cannot fix (``channel_not_found``, ``invalid_blocks``…) fail the row at once, logged.

Exactly-once for ``chat.postMessage``: every message carries its idempotency key in its metadata
(``{"event_type": "releasegate_outbox", "event_payload": {"key": …}}``). Whenever a row is being
tried again — after a timeout, a dropped connection, a 5xx, or a sender that died mid-send — the
sender first looks for that key in the channel (``conversations.history``) or thread
(``conversations.replies``) and, if the message already landed, records its ``ts`` instead of
posting again. ``chat.update`` and ``conversations.open`` are naturally idempotent; an ephemeral
cannot be looked up, so a lost reply there may show twice (it is only ever seen by one user).

The client must not retry on its own (slack_sdk's default connection-error handler would re-post
blindly), so the sender makes its own retry-free copy of the client it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.models import OutboxMessage
from storage.outbox import NOT_SENT, OutboxStore, refs_in
from storage.types import OutboxState

__all__ = ["METADATA_EVENT", "OutboxFailed", "OutboxSender", "retry_free_client"]

log = logging.getLogger(__name__)

METADATA_EVENT = "releasegate_outbox"
Clock = Callable[[], datetime]

# Slack answers these with HTTP 200 and ok=false, yet they are transient.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org"}
)
# A channel given as a user id means "DM this user"; it is opened first to get a real channel id.
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Calls sent as JSON bodies; others (conversations.*, users.*) as form fields, which every method takes.
_JSON_METHODS = ("chat.", "views.")


class OutboxFailed(Exception):
    """``wait_sent`` on a row that was given up on."""

    def __init__(self, row: OutboxMessage) -> None:
        super().__init__(f"outbox message {row.idempotency_key} failed: {row.error}")
        self.row = row


class _Retry(Exception):
    def __init__(self, error: str, *, after: float | None = None, reached: bool = True) -> None:
        super().__init__(error)
        self.after = after
        # False only when Slack certainly did not act on the call (429, no connection made).
        self.reached = reached


class _Permanent(Exception):
    pass


def retry_free_client(client: AsyncWebClient, timeout: int | None = None) -> AsyncWebClient:
    """The same token and URL, with no automatic retries: the outbox decides when to send again."""
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=timeout or client.timeout,
        session=client.session,
        retry_handlers=[],
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxSender:
    def __init__(
        self,
        store: OutboxStore,
        client: AsyncWebClient,
        *,
        clock: Clock = _utcnow,
        worker_id: str = "",
        poll_seconds: float = 1.0,
        batch: int = 50,
        concurrency: int = 8,
        timeout: int = 10,
        lease: timedelta | None = None,
        max_attempts: int = 12,
        base_backoff: float = 1.0,
        max_backoff: float = 300.0,
        ref_wait: timedelta = timedelta(hours=1),
    ) -> None:
        self.store = store
        self.client = retry_free_client(client, timeout)
        self.clock = clock
        self.worker_id = worker_id
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.timeout = timeout
        # One attempt is at most a DM open, a history lookup and the call itself.
        self.lease = lease or timedelta(seconds=4 * timeout + 5)
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.ref_wait = ref_wait
        self._sem = asyncio.Semaphore(concurrency)
        self._method_hold: dict[str, float] = {}  # method → monotonic time before which it waits
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start delivering; rows left over from before a crash or restart go out first."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="outbox-sender")

    async def stop(self, timeout: float = 30.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(task, timeout)
        except TimeoutError:
            # Cancelled mid-send: the lease runs out and the next sender checks before re-posting.
            log.warning("outbox sender stopped with sends in flight")

    def kick(self) -> None:
        """Send now rather than at the next poll; call after committing a transaction that enqueued."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("outbox sender: round failed; retrying")
                busy = 0
            if busy or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim one batch and attempt each row once. Returns how many rows were claimed."""
        rows = await self.store.claim(self.clock(), self.batch, worker_id=self.worker_id, lease=self.lease)
        if rows:
            await asyncio.gather(*(self._attempt(r) for r in rows))
            async with self._progress:
                self._progress.notify_all()
        return len(rows)

    async def drain(self, timeout: float = 30.0) -> None:
        """Run until nothing is due (tests, ``demo``); rows waiting on a backoff are left for later."""
        async with asyncio.timeout(timeout):
            while await self.run_once():
                pass

    async def wait_sent(self, key: str, timeout: float = 30.0) -> OutboxMessage:
        """The row once it is sent (its ``result_ts`` is the message ts). Raises OutboxFailed or TimeoutError.

        Works across replicas: it reads the database, and is woken early by this process's sends.
        """
        async with asyncio.timeout(timeout):
            while True:
                row = await self.store.get(key)
                if row is not None and row.state == OutboxState.SENT:
                    return row
                if row is not None and row.state == OutboxState.FAILED:
                    raise OutboxFailed(row)
                self._wake.set()
                async with self._progress:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), 0.25)

    # -- one row -------------------------------------------------------------------------------

    async def _attempt(self, row: OutboxMessage) -> None:
        assert row.id is not None
        async with self._sem:
            hold = self._method_hold.get(row.method, 0.0) - time.monotonic()
            if hold > 0:
                await self.store.defer(row.id, self.clock() + timedelta(seconds=hold))
                return
            # Did an earlier attempt perhaps post this already? Then look before posting again.
            maybe_landed = row.attempts > 1 and not (row.error or "").startswith(NOT_SENT)
            posting = False
            try:
                args = await self._resolve(row)
                if args is None:
                    return
                if maybe_landed and row.method == "chat.postMessage":
                    landed = await self._find_landed(row, args)
                    if landed is not None:
                        log.info("outbox %s had already landed as %s; not posting again", row.idempotency_key, landed)
                        await self.store.mark_sent(row.id, landed, str(args["channel"]), self.clock())
                        return
                    maybe_landed = False
                posting = True
                ts, channel = await self._send(row, args)
            except _Retry as exc:
                uncertain = maybe_landed or (posting and exc.reached)
                await self._retry(row, ("" if uncertain else NOT_SENT) + str(exc), exc.after)
            except _Permanent as exc:
                log.error("outbox %s (%s) failed for good: %s", row.idempotency_key, row.method, exc)
                await self.store.mark_failed(row.id, str(exc))
            except Exception as exc:
                log.exception("outbox %s (%s): unexpected error", row.idempotency_key, row.method)
                await self._retry(row, f"{type(exc).__name__}: {exc}", None)
            else:
                await self.store.mark_sent(row.id, ts, channel, self.clock())

    async def _retry(self, row: OutboxMessage, error: str, after: float | None) -> None:
        assert row.id is not None
        if row.attempts >= self.max_attempts:
            log.error(
                "outbox %s (%s) gave up after %d attempts: %s", row.idempotency_key, row.method, row.attempts, error
            )
            await self.store.mark_failed(row.id, f"gave up after {row.attempts} attempts: {error}")
            return
        delay = min(self.base_backoff * 2 ** min(row.attempts - 1, 20), self.max_backoff)
        delay *= random.uniform(0.8, 1.2)
        if after is not None:
            delay = max(delay, after)
        log.warning(
            "outbox %s (%s) attempt %d failed, retrying in %.1fs: %s",
            row.idempotency_key,
            row.method,
            row.attempts,
            delay,
            error,
        )
        await self.store.mark_retry(row.id, error, self.clock() + timedelta(seconds=delay))

    async def _resolve(self, row: OutboxMessage) -> dict[str, Any] | None:
        """Arguments with references to other rows filled in; None when the row had to wait or fail."""
        assert row.id is not None
        args = dict(row.args)
        refs = refs_in(args)
        if refs:
            found = await self.store.by_keys(key for key, _ in refs.values())
            for name, (key, field) in refs.items():
                dep = found.get(key)
                if dep is None or dep.state == OutboxState.PENDING:
                    if dep is None and self.clock() - row.created_at > self.ref_wait:
                        raise _Permanent(f"refers to outbox message {key!r}, which was never enqueued")
                    log.debug("outbox %s waits for %s", row.idempotency_key, key)
                    await self.store.defer(row.id, self.clock() + timedelta(seconds=0.5))
                    return None
                if dep.state == OutboxState.FAILED:
                    raise _Permanent(f"refers to outbox message {key!r}, which failed")
                args[name] = dep.result_channel if field == "channel" else dep.result_ts
        channel = args.get("channel")
        if row.method == "chat.postMessage" and isinstance(channel, str) and _USER_ID.match(channel):
            opened = await self._call("conversations.open", {"users": channel})
            args["channel"] = str(opened["channel"]["id"])
        if row.method == "chat.postMessage":
            args["metadata"] = _with_key(args.get("metadata"), row.idempotency_key)
        return args

    async def _send(self, row: OutboxMessage, args: dict[str, Any]) -> tuple[str | None, str | None]:
        resp = await self._call(row.method, args)
        ts = resp.get("ts") or resp.get("message_ts")
        if ts is None and isinstance(resp.get("view"), dict):
            ts = resp["view"].get("id")
        channel = resp.get("channel")
        if isinstance(channel, dict):
            channel = channel.get("id")
        return (str(ts) if ts else None), (str(channel) if channel else args.get("channel"))

    async def _find_landed(self, row: OutboxMessage, args: dict[str, Any]) -> str | None:
        """The ts of a message carrying this row's key, if an earlier attempt posted it after all."""
        channel = args["channel"]
        thread_ts = args.get("thread_ts")
        # Slack's clock and ours may disagree a little; a generous window costs one page at most.
        oldest = f"{(row.created_at - timedelta(minutes=10)).timestamp():.6f}"
        method = "conversations.replies" if thread_ts else "conversations.history"
        params: dict[str, Any] = {"channel": channel, "oldest": oldest, "limit": 200, "include_all_metadata": True}
        if thread_ts:
            params["ts"] = thread_ts
        cursor = ""
        for _ in range(20):
            if cursor:
                params["cursor"] = cursor
            try:
                resp = await self._call(method, params)
            except _Permanent as exc:
                if any(code in str(exc) for code in ("channel_not_found", "thread_not_found")):
                    return None  # nothing can have landed where nothing exists
                # Without history access we cannot tell; a duplicate beats a message that never arrives.
                log.warning(
                    "outbox %s: cannot check whether it already landed (%s); posting again", row.idempotency_key, exc
                )
                return None
            for msg in resp.get("messages", []):
                if _key_of(msg.get("metadata")) == row.idempotency_key:
                    return str(msg["ts"])
            cursor = str((resp.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None
        return None

    async def _call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """One Slack call, its failure sorted into retry-later or give-up."""
        try:
            if method.startswith(_JSON_METHODS):
                resp = await self.client.api_call(method, json=args)
            else:
                resp = await self.client.api_call(method, data=_form(args))
        except SlackApiError as exc:
            status = exc.response.status_code
            error = (
                str(exc.response.get("error") or f"http {status}")
                if isinstance(exc.response.data, dict)
                else f"http {status}"
            )
            if status == 429 or error == "ratelimited":
                after = _retry_after(exc.response.headers)
                self._method_hold[method] = time.monotonic() + after
                raise _Retry(f"{method}: rate limited, Retry-After {after:.0f}s", after=after, reached=False) from exc
            if status >= 500 or error in _TRANSIENT_ERRORS:
                raise _Retry(f"{method}: {error} (http {status})") from exc
            raise _Permanent(f"{method}: {error}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise _Retry(f"{method}: cannot connect: {exc}", reached=False) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The request may or may not have reached Slack; a retry of a post checks first.
            raise _Retry(f"{method}: {type(exc).__name__}: {exc}") from exc
        data = resp.data
        return data if isinstance(data, dict) else {}


def _retry_after(headers: Any) -> float:
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers is not None else None
        if value is not None:
            try:
                return max(float(value), 0.0)
            except ValueError:
                break
    return 1.0


def _with_key(metadata: Any, key: str) -> dict[str, Any]:
    """Message metadata carrying the idempotency key, keeping any event the caller attached."""
    if isinstance(metadata, dict) and metadata.get("event_type"):
        payload = dict(metadata.get("event_payload") or {})
        payload["releasegate_outbox_key"] = key
        return {**metadata, "event_payload": payload}
    return {"event_type": METADATA_EVENT, "event_payload": {"key": key}}


def _key_of(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    payload = metadata.get("event_payload") or {}
    if not isinstance(payload, dict):
        return None
    if metadata.get("event_type") == METADATA_EVENT and "key" in payload:
        return str(payload["key"])
    value = payload.get("releasegate_outbox_key")
    return None if value is None else str(value)


def _form(args: dict[str, Any]) -> dict[str, Any]:
    """Form fields: booleans as Slack spells them, structures as JSON strings."""
    out: dict[str, Any] = {}
    for k, v in args.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, dict | list):
            out[k] = json.dumps(v)
        else:
            out[k] = v
    return out
