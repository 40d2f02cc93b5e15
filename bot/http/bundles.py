"""`POST /api/v1/releases`: CI uploads a bundle (multipart: ``release.yml`` plus the image files).

Each file part's filename is its path inside the bundle. Everything is checked before anything
is visible: the name, the manifest, every path (no ``..``, no absolute paths), sizes, and that
every file the manifest names was uploaded. The bundle is assembled in a temporary folder and
moved into place with one rename, so ``/release start`` never sees half a bundle.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from bot.http.context import HttpContext
from bot.preview.bundle import check_name, fingerprint
from gates.bundle import BundleError, check_relative_path, parse_bundle

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES = 2000


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _actor(request: web.Request) -> str:
    """Who uploads, for the audit entry: the API key by name (the admin token is ``key:admin``)."""
    principal = request.get("principal")
    name = getattr(principal, "name", None)
    return f"key:{name}" if name else "key:admin"


def add_bundle_routes(app: web.Application, ctx: HttpContext) -> None:
    async def upload(request: web.Request) -> web.Response:
        name = request.query.get("name", "")
        if problem := check_name(name):
            return _bad(f"?name=: {problem}")
        if not request.content_type.startswith("multipart/"):
            return _bad("send multipart/form-data: release.yml and the image files")
        if await ctx.store.active_release(name) is not None:
            # Early answer before the body is read; the binding check is begin_upload's, after it.
            return _bad(f"{name} is in progress; wait until it ends before replacing its bundle", 409)
        releases_dir = Path(ctx.settings.releases_dir)
        releases_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".upload-{name}-", dir=releases_dir))
        try:
            error = await _receive(request, staging)
            if error:
                return _bad(error)
            try:
                bundle = parse_bundle(
                    (staging / "release.yml").read_text(encoding="utf-8"), source=f"{name}/release.yml"
                )
            except UnicodeDecodeError:
                return _bad(f"{name}/release.yml is not UTF-8 text")
            except BundleError as exc:
                return _bad(str(exc))
            missing = [
                p for img in bundle.images for p in (img.candidate, img.baseline) if p and not (staging / p).is_file()
            ]
            if missing:
                return _bad("files named in release.yml were not uploaded: " + ", ".join(missing[:20]))
            fp = await asyncio.to_thread(fingerprint, staging, bundle)
            actor = _actor(request)
            # Claimed in the database, so a `/release start` of the same name either finishes first
            # (and this upload is refused) or sees the upload and refuses itself.
            refused = await ctx.store.begin_upload(name, actor, ctx.clock())
            if refused is not None:
                return _bad(refused, 409)
            replaced = False
            try:
                target = releases_dir / name
                if target.exists():
                    await asyncio.to_thread(shutil.rmtree, target)
                staging.rename(target)
                replaced = True
            finally:
                files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) if replaced else []
                size = sum((target / f).stat().st_size for f in files) if replaced else 0
                detail = (
                    {"bundle_digest": fp.digest, "files": len(files), "bytes": size, "images": len(bundle.images)}
                    if replaced
                    else None
                )
                await ctx.store.finish_upload(name, actor, ctx.clock(), detail)
            return web.json_response(
                {
                    "name": name,
                    "images": len(bundle.images),
                    "files": files,
                    "bundle_digest": fp.digest,
                    "image_sha256": fp.image_hashes(bundle),
                },
                status=201,
            )
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    app.router.add_post("/api/v1/releases", upload)


async def _receive(request: web.Request, staging: Path) -> str | None:
    """Write every part under ``staging``; a message says what was wrong, None when all is well."""
    reader = await request.multipart()
    count = 0
    seen_manifest = False
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            return "nested multipart bodies are not accepted"
        # Clients differ: curl sends the path as is, aiohttp percent-encodes the slashes. Decoding
        # first means "%2e%2e/" is judged as the "../" it stands for.
        rel = unquote(part.filename or part.name or "")
        try:
            check_relative_path(rel)
        except ValueError as exc:
            return f"file {rel!r}: {exc}"
        count += 1
        if count > MAX_FILES:
            return f"more than {MAX_FILES} files in one bundle"
        dest = staging / rel
        if not dest.resolve().is_relative_to(staging.resolve()):
            return f"file {rel!r} would leave the bundle"
        dest.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with dest.open("wb") as out:
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    return f"file {rel!r} is over {MAX_FILE_BYTES:,} bytes"
                out.write(chunk)
        seen_manifest = seen_manifest or rel == "release.yml"
    return None if seen_manifest else "release.yml is missing from the upload"
