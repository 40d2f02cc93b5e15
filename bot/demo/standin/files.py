"""File uploads: files.getUploadURLExternal, the byte upload, files.completeUploadExternal,
files.info, and downloading what was uploaded."""

from __future__ import annotations

import mimetypes
import time
from typing import Any

from aiohttp import BodyPartReader, web

from bot.demo.standin.blockkit import validate_blocks
from bot.demo.standin.calls import maybe_fail, text_answer
from bot.demo.standin.context import Context
from bot.demo.standin.errors import SlackError, json_field
from bot.demo.standin.state import CallRecord, FileRecord, Message

__all__ = [
    "UPLOAD",
    "complete_upload_external",
    "download",
    "get_upload_url_external",
    "info",
    "upload",
]

# The byte upload is not a Web API method; faults and the call log know it by this name.
UPLOAD = "upload"


def get_upload_url_external(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    try:
        length = int(args["length"])
    except (TypeError, ValueError) as exc:
        raise SlackError("invalid_arguments", ["[ERROR] length must be an integer"]) from exc
    if length < 0:
        raise SlackError("invalid_arguments", ["[ERROR] length must be positive"])
    record = FileRecord(
        id=ctx.state.new_id("F"),
        name=str(args["filename"]),
        length=length,
        alt_txt=args.get("alt_txt"),
        snippet_type=args.get("snippet_type"),
    )
    ctx.state.files[record.id] = record
    out = ctx.spec_example("files.getUploadURLExternal")
    out.update(upload_url=f"{ctx.root_url}upload/v1/{record.id}", file_id=record.id)
    return out


def complete_upload_external(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    items = json_field(args, "files", "invalid_arguments")
    if not isinstance(items, list) or not items:
        raise SlackError("invalid_arguments", ["[ERROR] files must be a non-empty array"])
    records: list[tuple[FileRecord, dict[str, Any]]] = []
    for item in items:
        record = state.files.get(str(item.get("id"))) if isinstance(item, dict) else None
        if record is None or not record.uploaded or record.completed:
            raise SlackError("file_not_found")
        records.append((record, item))
    ref = args.get("channel_id") or (str(args["channels"]).split(",")[0] if args.get("channels") else None)
    channel = ctx.channel(ref) if ref else None
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
            ts=state.new_ts(),
            text=str(args.get("initial_comment") or ""),
            blocks=blocks,
            thread_ts=thread_ts,
            user=state.bot_user_id,
            bot_id=state.bot_id,
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
    out = ctx.spec_example("files.completeUploadExternal")
    out["files"] = [{"id": record.id, "title": record.title} for record, _ in records]
    return out


def info(ctx: Context, args: dict[str, Any]) -> dict[str, Any]:
    state = ctx.state
    record = state.files.get(str(args.get("file")))
    if record is None or not record.completed:
        raise SlackError("file_not_found")
    out = ctx.spec_example("files.info")
    # The documented example is an image; its thumbnail and EXIF fields would describe bytes we lack.
    file = {
        k: v
        for k, v in out["file"].items()
        if not k.startswith(("thumb_", "deanimate", "pjpeg", "image_exif", "original_"))
    }
    mimetype = mimetypes.guess_type(record.name)[0] or "application/octet-stream"
    filetype = record.name.rsplit(".", 1)[-1].lower() if "." in record.name else "binary"
    url = f"{ctx.root_url}files/{record.id}/{record.name}"
    shares: dict[str, Any] = {}
    channels: list[str] = []
    ims: list[str] = []
    if record.channel is not None:
        share = {"ts": record.message_ts, "channel_name": state.channels[record.channel].name}
        if record.thread_ts:
            share["thread_ts"] = record.thread_ts
        is_im = state.channels[record.channel].is_im
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
        user=state.bot_user_id,
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


async def upload(ctx: Context, request: web.Request) -> web.StreamResponse:
    """POST /upload/v1/{file_id}: the bytes for a URL files.getUploadURLExternal handed out."""
    record = CallRecord(method=UPLOAD, args={}, response=None, status=0, at=time.time())
    record.args["file_id"] = file_id = request.match_info["file_id"]
    failure = await maybe_fail(ctx, request, record, UPLOAD)
    if failure is not None:
        return failure
    file = ctx.state.files.get(file_id)
    if file is None or file.uploaded:
        return text_answer(ctx, record, 404, "file_not_found")
    content = await _read_upload(request)
    file.content = content
    file.uploaded = True
    record.args["bytes"] = len(content)
    return text_answer(ctx, record, 200, f"OK - {len(content)}")


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


async def download(ctx: Context, request: web.Request) -> web.StreamResponse:
    """GET /files/{file_id}/{name}: the url_private files.info points at."""
    file = ctx.state.files.get(request.match_info["file_id"])
    if file is None or file.content is None:
        raise web.HTTPNotFound()
    mimetype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return web.Response(body=file.content, content_type=mimetype)
