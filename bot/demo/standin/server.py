"""An aiohttp server that answers Slack Web API calls the way Slack does, from memory.

It accepts requests exactly as ``slack_sdk``'s ``AsyncWebClient`` sends them (JSON bodies, form
bodies, query strings; the token in ``Authorization: Bearer`` or a ``token`` parameter), checks
them against the packaged method descriptions and Block Kit limits, and answers with the documented
example responses filled in with real ids and timestamps. It is the only Slack the tests and
``releasegate demo`` ever talk to.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from bot.demo.standin.blockkit import message_text, validate_blocks, validate_view
from bot.demo.standin.content import edit_of, message_content
from bot.demo.standin.errors import SlackError, flag, json_field
from bot.demo.standin.faults import Fault, FaultKind, FaultPlan
from bot.demo.standin.schemas import MethodSpec, load_method_specs
from bot.demo.standin.socket_mode import Ack, EnvelopeType, SocketModeHub
from bot.demo.standin.state import (
    CallRecord,
    Channel,
    Ephemeral,
    FileRecord,
    Message,
    ResponseUrlRecord,
    SlackState,
    ViewRecord,
)

__all__ = ["SlackError", "SlackStandIn"]

_T = TypeVar("_T")
Handler = Callable[[dict[str, Any]], dict[str, Any]]

# The byte upload and response_url posts are not Web API methods; faults and the call log know
# them by these names.
UPLOAD = "upload"
RESPONSE_URL = "response_url"
# Slack lets an app use one response_url five times.
_RESPONSE_URL_USES = 5


class SlackStandIn:
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
        self.state = state or SlackState(strict=strict)
        self.bot_tokens = None if bot_tokens is None else frozenset(bot_tokens)
        self.app_tokens = None if app_tokens is None else frozenset(app_tokens)
        self.single_use_triggers = single_use_triggers
        # A copy: the packaged specs are cached and shared, and we add the history readers below.
        self.specs: dict[str, MethodSpec] = {**load_method_specs(), **_HISTORY_SPECS}
        self.faults = FaultPlan()
        self.refusing: FaultKind | None = None
        self.socket = SocketModeHub(self.state.app_id)
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "apps.connections.open": self._apps_connections_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }
        self._runner: web.AppRunner | None = None
        self._root = ""
        self._waiters: set[asyncio.Event] = set()
        self.state.subscribe(self._notify)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{file_id}", self._handle_upload)
        app.router.add_get("/files/{file_id}/{name}", self._handle_download)
        app.router.add_get("/socket", self._handle_socket)
        app.router.add_post("/respond/{response_id}", self._handle_response_url)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self._root = f"http://{host}:{bound[1]}/"
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
        if not self._root:
            raise RuntimeError("the stand-in is not running; await start() first")
        return self._root

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
        record = CallRecord(
            method=method, args={}, response=None, status=0, at=time.time(), http_method=request.method
        )
        try:
            record.args = await self._read_args(request)
        except SlackError as exc:
            return self._answer(record, exc.response())
        token = self._take_token(request, record.args)
        failure = await self._maybe_fail(request, record, method)
        if failure is not None:
            return failure
        try:
            spec = self.specs.get(method)
            handler = self._handlers.get(method)
            if spec is None or handler is None:
                raise SlackError("unknown_method")
            record.unknown_args = sorted(k for k in record.args if k not in spec.args)
            self._check_token(method, token)
            missing = [
                name for name in spec.required if name != "token" and record.args.get(name) in (None, "")
            ]
            if missing:
                raise SlackError(
                    "invalid_arguments", [f"[ERROR] missing required field: {n}" for n in missing]
                )
            response = handler(record.args)
        except SlackError as exc:
            response = exc.response()
        return self._answer(record, response)

    def _answer(self, record: CallRecord, body: dict[str, Any], status: int = 200) -> web.Response:
        record.response = body
        record.status = status
        self.state.calls.append(record)
        self._notify()
        return web.json_response(body, status=status, headers={"X-Slack-Req-Id": secrets.token_hex(8)})

    async def _maybe_fail(
        self, request: web.Request, record: CallRecord, method: str
    ) -> web.StreamResponse | None:
        kind: FaultKind | None = self.refusing
        fault = None
        if kind is None:
            fault = self.faults.pick(method)
            kind = None if fault is None else fault.kind
        if kind is None:
            return None
        record.fault = "refused" if fault is None else kind
        record.at = time.time()
        if kind == "drop":
            record.status = 0
            self.state.calls.append(record)
            self._notify()
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never delivered: the connection is already gone
        if kind == "rate_limited":
            retry_after = fault.retry_after if fault is not None else 1
            response = self._answer(record, {"ok": False, "error": "ratelimited"}, status=429)
            response.headers["Retry-After"] = str(retry_after)
            return response
        status = fault.status if fault is not None else 503
        return self._answer(record, {"ok": False, "error": "internal_error"}, status=status)

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

    # -- shared checks -------------------------------------------------------------------------

    def _spec_example(self, method: str) -> dict[str, Any]:
        return self.specs[method].success_example()

    def _channel(self, ref: Any) -> Channel:
        channel = self.state.resolve_channel(ref) if isinstance(ref, str) else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _existing_channel(self, ref: Any) -> Channel:
        cid = self.state.channel_id(ref) if isinstance(ref, str) else None
        if cid is None:
            raise SlackError("channel_not_found")
        return self.state.channels[cid]

    # -- methods -------------------------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        out = self._spec_example("auth.test")
        s = self.state
        out.update(
            url=s.workspace_url,
            team=s.team_name,
            user=s.bot_name,
            team_id=s.team_id,
            user_id=s.bot_user_id,
            bot_id=s.bot_id,
        )
        return out

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        text, blocks, attachments = message_content(args)
        metadata = json_field(args, "metadata", "invalid_metadata_format")
        thread_ts = args.get("thread_ts") or None
        msg = Message(
            channel=channel.id,
            ts=self.state.new_ts(),
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            thread_ts=str(thread_ts) if thread_ts else None,
            user=self.state.bot_user_id,
            bot_id=self.state.bot_id,
            username=args.get("username"),
            reply_broadcast=flag(args.get("reply_broadcast")),
            metadata=metadata if isinstance(metadata, dict) else None,
        )
        channel.messages.append(msg)
        out = self._spec_example("chat.postMessage")
        out.update(channel=channel.id, ts=msg.ts, message=msg.to_api(self.state.team_id, self.state.app_id))
        return out

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._existing_channel(args.get("channel"))
        msg = self.state.find_message(channel.id, str(args.get("ts")))
        if msg is None:
            raise SlackError("message_not_found")
        if msg.bot_id != self.state.bot_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = message_content(args, required=False)
        if not text and blocks is None and attachments is None and not args.get("file_ids"):
            raise SlackError("no_text")
        msg.edits.append(edit_of(msg))
        if "text" in args or "markdown_text" in args:
            msg.text = text or ""
        if blocks is not None:
            msg.blocks = blocks
        if attachments is not None:
            msg.attachments = attachments
        out = self._spec_example("chat.update")
        out.update(
            channel=channel.id,
            ts=msg.ts,
            text=msg.text,
            message=msg.to_api(self.state.team_id, self.state.app_id),
        )
        return out

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        user = str(args.get("user"))
        if not self.state.user_known(user):
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = message_content(args)
        thread_ts = args.get("thread_ts") or None
        eph = Ephemeral(
            channel=channel.id,
            user=user,
            message_ts=self.state.new_ts(),
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        self.state.ephemeral_messages.append(eph)
        out = self._spec_example("chat.postEphemeral")
        out["message_ts"] = eph.message_ts
        return out

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._existing_channel(args.get("channel"))
        msg = self.state.find_message(channel.id, str(args.get("message_ts")))
        if msg is None:
            raise SlackError("message_not_found")
        link = f"{self.state.workspace_url}archives/{channel.id}/p{msg.ts.replace('.', '')}"
        if msg.is_reply:
            link += f"?thread_ts={msg.thread_ts}&cid={channel.id}"
        out = self._spec_example("chat.getPermalink")
        out.update(channel=channel.id, permalink=link)
        return out

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        raw = args.get("users")
        users = [u.strip() for u in raw.split(",") if u.strip()] if isinstance(raw, str) else list(raw or [])
        if not users:
            if args.get("channel"):
                return {"ok": True, "channel": {"id": self._existing_channel(args["channel"]).id}}
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        for user in users:
            if not self.state.user_known(user):
                raise SlackError("user_not_found")
        if len(users) == 1:
            already = self.state.dm_channel(users[0]) is not None
            cid = self.state.open_dm(users[0])
        else:
            name = "mpdm-" + "--".join(sorted(users)) + "-1"
            existing = self.state.channel_id(name)
            already = existing is not None
            cid = existing or self.state.new_id("G")
            if not already:
                self.state.channels[cid] = Channel(id=cid, name=name)
        if not flag(args.get("return_im")):
            out = self._spec_example("conversations.open")
            out["channel"] = {"id": cid}
            return out
        rich: dict[str, Any] = json.loads(
            json.dumps(self.specs["conversations.open"].examples["success_with_return_im"])
        )
        if not already:
            rich.pop("no_op", None)
            rich.pop("already_open", None)
        rich["channel"].update(id=cid, user=users[0], created=int(time.time()))
        return rich

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._existing_channel(args.get("channel"))
        # Newest first, as Slack answers; thread replies only when broadcast to the channel.
        msgs = list(reversed(self.state.messages(channel.id)))
        return self._message_page(msgs, args)

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._existing_channel(args.get("channel"))
        parent = self.state.find_message(channel.id, str(args.get("ts")))
        if parent is None:
            raise SlackError("thread_not_found")
        thread_ts = parent.thread_ts or parent.ts
        # Oldest first, the parent message always leading the page.
        msgs = self.state.replies(channel.id, thread_ts, include_parent=True)
        return self._message_page(msgs, args, keep_first=True)

    def _message_page(self, msgs: list[Message], args: dict[str, Any], *, keep_first: bool = False) -> dict[str, Any]:
        """Window (oldest/latest/inclusive), cursor and limit over a message list, minimal but Slack-shaped."""
        inclusive = flag(args.get("inclusive"))
        oldest, latest = args.get("oldest"), args.get("latest")

        def inside(m: Message) -> bool:
            t = float(m.ts)
            if oldest not in (None, "") and (t < float(oldest) or (t == float(oldest) and not inclusive)):
                return False
            return not (latest not in (None, "") and (t > float(latest) or (t == float(latest) and not inclusive)))

        head = msgs[:1] if keep_first else []
        window = head + [m for m in msgs[len(head):] if inside(m)]
        try:
            start = int(str(args.get("cursor") or "0"))
            limit = max(1, min(int(args.get("limit") or 100), 1000))
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
        page = window[start:start + limit]
        more = start + limit < len(window)
        with_meta = flag(args.get("include_all_metadata"))
        out_msgs = []
        for m in page:
            api = m.to_api(self.state.team_id, self.state.app_id)
            if not with_meta:
                api.pop("metadata", None)
            out_msgs.append(api)
        return {
            "ok": True,
            "messages": out_msgs,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.state.users.get(str(args.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        out = self._spec_example("users.info")
        profile = {**out["user"].get("profile", {}), **user["profile"]}
        out["user"].update({k: v for k, v in user.items() if k != "profile"})
        out["user"]["profile"] = profile
        out["user"]["updated"] = int(time.time())
        return out

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self.state.usergroups.get(str(args.get("usergroup")))
        if members is None:
            raise SlackError("no_such_subteam")
        out = self._spec_example("usergroups.users.list")
        out["users"] = list(members)
        return out

    def _view_arg(self, args: dict[str, Any]) -> dict[str, Any]:
        view = json_field(args, "view", "invalid_arguments")
        errors = validate_view(view)
        if errors:
            raise SlackError("invalid_arguments", errors)
        assert isinstance(view, dict)
        return view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        trigger = str(trigger)
        if self.single_use_triggers and trigger in self.state.used_trigger_ids:
            raise SlackError("exchanged_trigger_id")
        view = self._view_arg(args)
        external_id = view.get("external_id") or None
        if external_id and any(v.external_id == external_id for v in self.state.views.values()):
            raise SlackError("duplicate_external_id")
        self.state.used_trigger_ids.add(trigger)
        record = ViewRecord(
            id=self.state.new_id("V"),
            view=view,
            trigger_id=trigger,
            hash=_view_hash(),
            external_id=external_id,
        )
        self.state.views[record.id] = record
        return self._view_response("views.open", record)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: view_id"])
        record = self.state.views.get(str(view_id)) if view_id else None
        if record is None and external_id:
            record = next((v for v in self.state.views.values() if v.external_id == external_id), None)
        if record is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != record.hash:
            raise SlackError("hash_conflict")
        view = self._view_arg(args)
        record.history.append(record.view)
        record.view = view
        record.hash = _view_hash()
        record.external_id = view.get("external_id") or record.external_id
        return self._view_response("views.update", record)

    def _view_response(self, method: str, record: ViewRecord) -> dict[str, Any]:
        out = self._spec_example(method)
        v = record.view
        out["view"].update(
            id=record.id,
            team_id=self.state.team_id,
            type=v.get("type", "modal"),
            title=v.get("title"),
            submit=v.get("submit"),
            close=v.get("close"),
            blocks=v.get("blocks", []),
            private_metadata=v.get("private_metadata", ""),
            callback_id=v.get("callback_id", ""),
            external_id=record.external_id or "",
            state={"values": {}},
            hash=record.hash,
            clear_on_close=bool(v.get("clear_on_close", False)),
            notify_on_close=bool(v.get("notify_on_close", False)),
            root_view_id=record.id,
            app_id=self.state.app_id,
            bot_id=self.state.bot_id,
        )
        return out

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(args["length"])
        except (TypeError, ValueError) as exc:
            raise SlackError("invalid_arguments", ["[ERROR] length must be an integer"]) from exc
        if length < 0:
            raise SlackError("invalid_arguments", ["[ERROR] length must be positive"])
        record = FileRecord(
            id=self.state.new_id("F"),
            name=str(args["filename"]),
            length=length,
            alt_txt=args.get("alt_txt"),
            snippet_type=args.get("snippet_type"),
        )
        self.state.files[record.id] = record
        out = self._spec_example("files.getUploadURLExternal")
        out.update(upload_url=f"{self.root_url}upload/v1/{record.id}", file_id=record.id)
        return out

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        items = json_field(args, "files", "invalid_arguments")
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments", ["[ERROR] files must be a non-empty array"])
        records: list[tuple[FileRecord, dict[str, Any]]] = []
        for item in items:
            record = self.state.files.get(str(item.get("id"))) if isinstance(item, dict) else None
            if record is None or not record.uploaded or record.completed:
                raise SlackError("file_not_found")
            records.append((record, item))
        ref = args.get("channel_id") or (
            str(args["channels"]).split(",")[0] if args.get("channels") else None
        )
        channel = self._channel(ref) if ref else None
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts and channel is None:
            raise SlackError("invalid_channel")
        blocks = json_field(args, "blocks", "invalid_blocks")
        if blocks is not None:
            errors = validate_blocks(blocks) if isinstance(blocks, list) else ["[ERROR] must be an array"]
            if errors:
                raise SlackError("invalid_blocks", errors)
        message_ts = None
        if channel is not None:
            msg = Message(
                channel=channel.id,
                ts=self.state.new_ts(),
                text=str(args.get("initial_comment") or ""),
                blocks=blocks,
                thread_ts=thread_ts,
                user=self.state.bot_user_id,
                bot_id=self.state.bot_id,
                files=[record.id for record, _ in records],
            )
            channel.messages.append(msg)
            message_ts = msg.ts
        for record, item in records:
            record.title = str(item.get("title") or record.name)
            record.completed = True
            record.channel = None if channel is None else channel.id
            record.thread_ts = thread_ts
            record.initial_comment = args.get("initial_comment")
            record.message_ts = message_ts
        out = self._spec_example("files.completeUploadExternal")
        out["files"] = [{"id": record.id, "title": record.title} for record, _ in records]
        return out

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        record = self.state.files.get(str(args.get("file")))
        if record is None or not record.completed:
            raise SlackError("file_not_found")
        out = self._spec_example("files.info")
        file = {
            k: v
            for k, v in out["file"].items()
            if not k.startswith(("thumb_", "deanimate", "pjpeg", "image_exif", "original_"))
        }
        mimetype = mimetypes.guess_type(record.name)[0] or "application/octet-stream"
        filetype = record.name.rsplit(".", 1)[-1].lower() if "." in record.name else "binary"
        url = f"{self.root_url}files/{record.id}/{record.name}"
        shares: dict[str, Any] = {}
        channels: list[str] = []
        ims: list[str] = []
        if record.channel is not None:
            share = {"ts": record.message_ts, "channel_name": self.state.channels[record.channel].name}
            if record.thread_ts:
                share["thread_ts"] = record.thread_ts
            is_im = self.state.channels[record.channel].is_im
            shares = {"private" if is_im else "public": {record.channel: [share]}}
            (ims if is_im else channels).append(record.channel)
        file.update(
            id=record.id,
            created=record.created,
            timestamp=record.created,
            name=record.name,
            title=record.title,
            mimetype=mimetype,
            filetype=filetype,
            pretty_type=filetype.upper(),
            user=self.state.bot_user_id,
            size=len(record.content or b""),
            url_private=url,
            url_private_download=url,
            permalink=url,
            permalink_public=url,
            shares=shares,
            channels=channels,
            groups=[],
            ims=ims,
            alt_txt=record.alt_txt,
        )
        out["file"] = file
        return out

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = self.socket.issue_ticket()
        ws_root = self.root_url.replace("http://", "ws://", 1)
        out = self._spec_example("apps.connections.open")
        out["url"] = f"{ws_root}socket?ticket={ticket}&app_id={self.state.app_id}"
        return out

    # -- the byte upload, downloads and the socket -------------------------------------------------

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        record = CallRecord(method=UPLOAD, args={}, response=None, status=0, at=time.time())
        record.args["file_id"] = file_id = request.match_info["file_id"]
        failure = await self._maybe_fail(request, record, UPLOAD)
        if failure is not None:
            return failure
        file = self.state.files.get(file_id)
        if file is None or file.uploaded:
            return self._text_answer(record, 404, "file_not_found")
        content = await self._read_upload(request)
        file.content = content
        file.uploaded = True
        record.args["bytes"] = len(content)
        return self._text_answer(record, 200, f"OK - {len(content)}")

    @staticmethod
    async def _read_upload(request: web.Request) -> bytes:
        """slack_sdk posts raw bytes; browsers and curl post multipart. Accept both."""
        if request.content_type != "multipart/form-data":
            return await request.read()
        reader = await request.multipart()
        first: bytes | None = None
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            data = await part.read(decode=True)
            if part.filename or part.name == "file":
                return bytes(data)
            first = bytes(data) if first is None else first
        return first or b""

    def _text_answer(
        self, record: CallRecord, status: int, text: str, messages: list[str] | None = None
    ) -> web.Response:
        record.status = status
        record.response = {"ok": status == 200, "body": text}
        if status != 200:
            record.response["error"] = text
        if messages:
            record.response["response_metadata"] = {"messages": messages}
        self.state.calls.append(record)
        self._notify()
        return web.Response(status=status, text=text, content_type="text/plain")

    def new_response_url(self, channel: str, user: str, *, message_ts: str | None = None) -> str:
        """A ``response_url`` to put in a slash command or interaction payload the test sends.

        ``message_ts`` is the message the interaction came from, so ``replace_original`` and
        ``delete_original`` know what to change.
        """
        channel_id = self.state.channel_id(channel) or channel
        record = ResponseUrlRecord(
            id=secrets.token_hex(8), channel=channel_id, user=user, message_ts=message_ts
        )
        self.state.response_urls[record.id] = record
        return f"{self.root_url}respond/{record.id}"

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        record = CallRecord(method=RESPONSE_URL, args={}, response=None, status=0, at=time.time())
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        record.args = body if isinstance(body, dict) else {}
        failure = await self._maybe_fail(request, record, RESPONSE_URL)
        if failure is not None:
            return failure
        target = self.state.response_urls.get(request.match_info["response_id"])
        try:
            if target is None:
                raise SlackError("expired_url")
            if target.uses >= _RESPONSE_URL_USES:
                raise SlackError("used_url")
            if not isinstance(body, dict):
                raise SlackError("invalid_payload")
            self._respond(target, body)
            target.uses += 1
        except SlackError as exc:
            status = 404 if exc.error in ("expired_url", "used_url", "message_not_found") else 400
            return self._text_answer(record, status, exc.error, exc.messages)
        return self._text_answer(record, 200, "ok")

    def _respond(self, target: ResponseUrlRecord, body: dict[str, Any]) -> None:
        """Apply a response_url post the way Slack does: delete, replace, or post anew."""
        original = self.state.find_message(target.channel, target.message_ts) if target.message_ts else None
        if flag(body.get("delete_original")):
            if original is None:
                raise SlackError("message_not_found")
            self.state.channels[target.channel].messages.remove(original)
            return
        text, blocks, attachments = message_content(body)
        if flag(body.get("replace_original")) and original is not None:
            original.edits.append(edit_of(original))
            original.text = text or ""
            original.blocks = blocks
            original.attachments = attachments
            return
        thread_ts = str(body["thread_ts"]) if body.get("thread_ts") else None
        if body.get("response_type") == "in_channel":
            channel = self._channel(target.channel)
            channel.messages.append(
                Message(
                    channel=channel.id,
                    ts=self.state.new_ts(),
                    text=text or "",
                    blocks=blocks,
                    attachments=attachments,
                    thread_ts=thread_ts,
                    user=self.state.bot_user_id,
                    bot_id=self.state.bot_id,
                )
            )
            return
        self.state.ephemeral_messages.append(
            Ephemeral(
                channel=target.channel,
                user=target.user,
                message_ts=self.state.new_ts(),
                text=text or "",
                blocks=blocks,
                attachments=attachments,
                thread_ts=thread_ts,
            )
        )

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        file = self.state.files.get(request.match_info["file_id"])
        if file is None or file.content is None:
            raise web.HTTPNotFound()
        mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return web.Response(body=file.content, content_type=mimetype)

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

    # -- inspection shortcuts (all backed by ``self.state``) -------------------------------------

    def add_user(
        self, user_id: str, name: str, real_name: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        return self.state.add_user(user_id, name, real_name, **fields)

    def add_usergroup(self, usergroup_id: str, members: Iterable[str]) -> None:
        self.state.add_usergroup(usergroup_id, members)

    def add_channel(self, name: str, channel_id: str | None = None) -> str:
        return self.state.add_channel(name, channel_id)

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        return self.state.messages(channel, include_replies=include_replies)

    def replies(self, channel: str, thread_ts: str, *, include_parent: bool = False) -> list[Message]:
        return self.state.replies(channel, thread_ts, include_parent=include_parent)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        return self.state.ephemerals(channel, user)

    def dm_channel(self, user_id: str) -> str | None:
        return self.state.dm_channel(user_id)

    def dms(self, user_id: str) -> list[Message]:
        return self.state.dms(user_id)

    @property
    def files(self) -> dict[str, FileRecord]:
        return self.state.files

    @property
    def views(self) -> dict[str, ViewRecord]:
        return self.state.views

    @property
    def calls(self) -> list[CallRecord]:
        return self.state.calls

    @property
    def rejected_calls(self) -> list[CallRecord]:
        return self.state.rejected_calls

    def assert_no_rejections(self) -> None:
        self.state.assert_no_rejections()

    def new_trigger_id(self) -> str:
        return self.state.new_trigger_id()

    def message(self, channel: str, ts: str) -> Message:
        return self.state.message(channel, ts)

    def transcript(self) -> str:
        return self.state.transcript()

    message_text = staticmethod(message_text)


# conversations.history and conversations.replies are not in the shared reference, so their facts are
# written here by hand, minimal: the arguments the outbox sender uses to look for a message it may
# already have posted. The cursor is an opaque offset, as far as callers can tell.
_PAGE_ARGS = ("token", "channel", "cursor", "include_all_metadata", "inclusive", "latest", "limit", "oldest")
_HISTORY_SPECS: dict[str, MethodSpec] = {
    "conversations.history": MethodSpec(
        name="conversations.history", http_method="GET", required=("token", "channel"), args=_PAGE_ARGS,
        errors=("channel_not_found", "invalid_cursor", "not_in_channel"),
    ),
    "conversations.replies": MethodSpec(
        name="conversations.replies", http_method="GET", required=("token", "channel", "ts"),
        args=(*_PAGE_ARGS, "ts"), errors=("channel_not_found", "invalid_cursor", "thread_not_found"),
    ),
}


def _view_hash() -> str:
    return f"{time.time():.6f}.{secrets.token_hex(4)}"
