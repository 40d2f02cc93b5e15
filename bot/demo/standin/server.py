"""An aiohttp server that answers Slack Web API calls the way Slack does, from memory.

It accepts requests exactly as ``slack_sdk``'s ``AsyncWebClient`` sends them (JSON bodies, form
bodies, query strings; the token in ``Authorization: Bearer`` or a ``token`` parameter), checks
them against the packaged method descriptions and Block Kit limits, and answers with the documented
example responses filled in with real ids and timestamps. It is the only Slack the tests and
``releasegate demo`` ever talk to.

This module owns the server's life, the token and required-argument checks every method shares,
and what tests use to drive and watch it. Each method is answered in the module named after its
family: ``chat.update`` in :mod:`~bot.demo.standin.chat`, ``files.info`` in
:mod:`~bot.demo.standin.files`, response_url posts in :mod:`~bot.demo.standin.response_url`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

from bot.demo.standin import (
    apps,
    auth,
    chat,
    conversations,
    files,
    response_url,
    usergroups,
    users,
    views,
)
from bot.demo.standin.calls import answer, maybe_fail
from bot.demo.standin.context import Context, Handler
from bot.demo.standin.errors import SlackError
from bot.demo.standin.faults import Fault, FaultKind, FaultPlan
from bot.demo.standin.inspection import Inspection
from bot.demo.standin.schemas import MethodSpec, load_method_specs
from bot.demo.standin.socket_mode import Ack, EnvelopeType, SocketModeHub
from bot.demo.standin.state import CallRecord, Message, SlackState

__all__ = ["SlackError", "SlackStandIn"]

_T = TypeVar("_T")

HANDLERS: dict[str, Handler] = {
    "auth.test": auth.test,
    "chat.postMessage": chat.post_message,
    "chat.update": chat.update,
    "chat.postEphemeral": chat.post_ephemeral,
    "chat.getPermalink": chat.get_permalink,
    "conversations.open": conversations.open,
    "users.info": users.info,
    "usergroups.users.list": usergroups.users_list,
    "views.open": views.open,
    "views.update": views.update,
    "files.getUploadURLExternal": files.get_upload_url_external,
    "files.completeUploadExternal": files.complete_upload_external,
    "files.info": files.info,
    "apps.connections.open": apps.connections_open,
    "conversations.history": conversations.history,
    "conversations.replies": conversations.replies,
}


class SlackStandIn(Inspection):
    """The local Slack. ``await start()`` returns the Web API base URL to hand to the bot."""

    def __init__(
        self,
        *,
        bot_tokens: Iterable[str] | None = None,
        app_tokens: Iterable[str] | None = None,
        strict: bool = False,
        single_use_triggers: bool = True,
        state: SlackState | None = None,
    ) -> None:
        state = state or SlackState(strict=strict)
        self.bot_tokens = None if bot_tokens is None else frozenset(bot_tokens)
        self.app_tokens = None if app_tokens is None else frozenset(app_tokens)
        self._ctx = Context(
            state=state,
            # A copy: the packaged specs are cached and shared, and we add the history readers.
            specs={**load_method_specs(), **conversations.HISTORY_SPECS},
            socket=SocketModeHub(state.app_id),
            faults=FaultPlan(),
            notify=self._notify,
            single_use_triggers=single_use_triggers,
        )
        self._runner: web.AppRunner | None = None
        self._waiters: set[asyncio.Event] = set()
        state.subscribe(self._notify)

    # The handlers read these through the context, so the attributes tests set and read live there.

    @property
    def state(self) -> SlackState:
        return self._ctx.state

    @state.setter
    def state(self, value: SlackState) -> None:
        self._ctx.state = value

    @property
    def specs(self) -> dict[str, MethodSpec]:
        return self._ctx.specs

    @specs.setter
    def specs(self, value: dict[str, MethodSpec]) -> None:
        self._ctx.specs = value

    @property
    def single_use_triggers(self) -> bool:
        return self._ctx.single_use_triggers

    @single_use_triggers.setter
    def single_use_triggers(self, value: bool) -> None:
        self._ctx.single_use_triggers = value

    @property
    def faults(self) -> FaultPlan:
        return self._ctx.faults

    @faults.setter
    def faults(self, value: FaultPlan) -> None:
        self._ctx.faults = value

    @property
    def refusing(self) -> FaultKind | None:
        return self._ctx.refusing

    @refusing.setter
    def refusing(self, value: FaultKind | None) -> None:
        self._ctx.refusing = value

    @property
    def socket(self) -> SocketModeHub:
        return self._ctx.socket

    @socket.setter
    def socket(self, value: SocketModeHub) -> None:
        self._ctx.socket = value

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", partial(files.upload, self._ctx))
        app.router.add_get("/files/{file_id}/{name}", partial(files.download, self._ctx))
        app.router.add_get("/socket", self._handle_socket)
        app.router.add_post("/respond/{response_id}", partial(response_url.post, self._ctx))
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self._ctx.root = f"http://{host}:{bound[1]}/"
        return self.base_url

    async def stop(self) -> None:
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        return self._ctx.root_url

    @property
    def base_url(self) -> str:
        """Web API base with the trailing slash slack_sdk needs (``…/api/``)."""
        return self.root_url + "api/"

    # -- faults --------------------------------------------------------------------------------

    def inject_fault(
        self,
        method: str | None = None,
        kind: FaultKind = "rate_limited",
        *,
        count: int | None = None,
        rate: float | None = None,
        seed: int | None = None,
        retry_after: int = 1,
        status: int = 500,
    ) -> Fault:
        """Fail matching calls: the next ``count`` of them, or each with probability ``rate``.

        ``method=None`` matches every call, including the byte upload (method name ``"upload"``).
        """
        fault = Fault(
            kind=kind,
            method=method,
            count=count,
            rate=rate,
            seed=seed,
            retry_after=retry_after,
            status=status,
        )
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def refuse_all(self, enabled: bool = True, kind: FaultKind = "server_error") -> None:
        """Slack is down: every call fails with ``kind`` (503 for server_error) until disabled."""
        self.refusing = kind if enabled else None

    # -- the Web API ---------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        record = CallRecord(method=method, args={}, response=None, status=0, at=time.time(), http_method=request.method)
        try:
            record.args = await self._read_args(request)
        except SlackError as exc:
            return answer(self._ctx, record, exc.response())
        token = self._take_token(request, record.args)
        failure = await maybe_fail(self._ctx, request, record, method)
        if failure is not None:
            return failure
        try:
            spec = self.specs.get(method)
            handler = HANDLERS.get(method)
            if spec is None or handler is None:
                raise SlackError("unknown_method")
            record.unknown_args = sorted(k for k in record.args if k not in spec.args)
            self._check_token(method, token)
            missing = [name for name in spec.required if name != "token" and record.args.get(name) in (None, "")]
            if missing:
                raise SlackError("invalid_arguments", [f"[ERROR] missing required field: {n}" for n in missing])
            response = handler(self._ctx, record.args)
        except SlackError as exc:
            response = exc.response()
        return answer(self._ctx, record, response)

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if not request.body_exists:
            return args
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise SlackError("invalid_json") from exc
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            args.update(body)
            return args
        post = await request.post()
        for key, value in post.items():
            args[key] = value.file.read() if isinstance(value, web.FileField) else value
        return args

    @staticmethod
    def _take_token(request: web.Request, args: dict[str, Any]) -> str | None:
        token = args.pop("token", None)
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        return token if isinstance(token, str) and token else None

    def _check_token(self, method: str, token: str | None) -> None:
        if token is None:
            raise SlackError("not_authed")
        wants_app_token = method == "apps.connections.open"
        if token.startswith("xapp-") != wants_app_token:
            if token.startswith(("xapp-", "xoxb-")):
                raise SlackError("not_allowed_token_type")
            raise SlackError("invalid_auth")
        allowed = self.app_tokens if wants_app_token else self.bot_tokens
        if allowed is None:
            if not token.startswith("xapp-" if wants_app_token else "xoxb-"):
                raise SlackError("invalid_auth")
        elif token not in allowed:
            raise SlackError("invalid_auth")

    # -- response_url and the socket -------------------------------------------------------------

    def new_response_url(self, channel: str, user: str, *, message_ts: str | None = None) -> str:
        """A ``response_url`` to put in a slash command or interaction payload the test sends.

        ``message_ts`` is the message the interaction came from, so ``replace_original`` and
        ``delete_original`` know what to change.
        """
        return response_url.new(self._ctx, channel, user, message_ts=message_ts)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if self.refusing is not None:
            raise web.HTTPServiceUnavailable()
        return await self.socket.handle(request)

    async def send_envelope(
        self,
        type: EnvelopeType,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        connect_timeout: float = 5.0,
        connection: int | None = None,
    ) -> str:
        """Push an envelope to a connected Socket Mode client (``connection``: index among the open
        connections, default the newest); returns its envelope_id."""
        return await self.socket.send_envelope(
            type,
            payload,
            accepts_response_payload=accepts_response_payload,
            connect_timeout=connect_timeout,
            connection=connection,
        )

    async def wait_for_ack(self, envelope_id: str, timeout: float = 3.0) -> Ack:
        return await self.socket.wait_for_ack(envelope_id, timeout)

    # -- waiting for the bot -------------------------------------------------------------------

    def _notify(self) -> None:
        for event in self._waiters:
            event.set()

    async def wait_for(self, predicate: Callable[[], _T | None], timeout: float = 5.0) -> _T:
        """Wait until ``predicate()`` returns something truthy (re-checked after every call)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"stand-in: condition not met within {timeout}s")
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(event)

    async def wait_for_message(
        self,
        channel: str | None = None,
        *,
        contains: str | None = None,
        thread_ts: str | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """The first message (in ``channel``/``thread_ts`` if given) whose rendered text has ``contains``."""

        def find() -> Message | None:
            if thread_ts is not None and channel is not None:
                pool = self.state.replies(channel, thread_ts)
            elif channel is not None:
                pool = self.state.messages(channel, include_replies=True)
            else:
                pool = self.state.all_messages()
            return next((m for m in pool if contains is None or contains in m.rendered), None)

        return await self.wait_for(find, timeout)

    async def wait_for_call(self, method: str, *, after: int = 0, timeout: float = 5.0) -> CallRecord:
        """The first call to ``method`` at index ``after`` or later in the call log."""
        return await self.wait_for(
            lambda: next((c for c in self.state.calls[after:] if c.method == method), None), timeout
        )
