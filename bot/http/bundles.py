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

from bot.http.auth import audit_actor
from bot.http.context import HttpContext
from bot.preview.bundle import MAX_BUNDLE_YAML_BYTES, check_name, fingerprint
from gates.bundle import BundleError, check_relative_path, parse_bundle, referenced_paths

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILES = 2000
# All files of one upload together (the aiohttp body cap does not apply to a streamed multipart body).
MAX_UPLOAD_BYTES = 500 * 1024 * 1024


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


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
            received: list[str] = []
            error = await _receive(request, staging, received)
            if error:
                return _bad(*error) if isinstance(error, tuple) else _bad(error)
            try:
                # A 1 MB YAML document takes seconds to parse: never on the event loop.
                bundle = await asyncio.to_thread(
                    lambda: parse_bundle(
                        (staging / "release.yml").read_text(encoding="utf-8"), source=f"{name}/release.yml"
                    )
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
            referenced = {"release.yml", *referenced_paths(bundle)}
            extra = sorted(p for p in received if p not in referenced)
            if extra:
                # Nothing is kept that no gate judges and nothing ships: an upload is exactly the bundle.
                return _bad("files not named in release.yml: " + ", ".join(extra[:20]))
            fp = await asyncio.to_thread(fingerprint, staging, bundle)
            actor = audit_actor(request)
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


async def _receive(request: web.Request, staging: Path, received: list[str]) -> str | tuple[str, int] | None:
    """Write every part under ``staging`` (their paths into ``received``); what was wrong (with a status
    when it is not 400), or None when all is well."""
    reader = await request.multipart()
    total = 0
    files: set[str] = set()
    folders: set[str] = set()
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
        if rel in files:
            return f"file {rel!r} is uploaded twice"
        parents = {"/".join(rel.split("/")[:n]) for n in range(1, rel.count("/") + 1)}
        # A path cannot be a file and a folder at once (release.yml then release.yml/x, or the reverse).
        if rel in folders or parents & files:
            return f"file {rel!r} clashes with another upload that uses the same name as a folder"
        if len(files) >= MAX_FILES:
            return f"more than {MAX_FILES} files in one bundle"
        dest = staging / rel
        if not dest.resolve().is_relative_to(staging.resolve()):
            return f"file {rel!r} would leave the bundle"
        dest.parent.mkdir(parents=True, exist_ok=True)
        files.add(rel)
        folders |= parents
        size = 0
        with dest.open("wb") as out:
            while chunk := await part.read_chunk(1 << 16):
                size += len(chunk)
                total += len(chunk)
                if size > MAX_FILE_BYTES:
                    return f"file {rel!r} is over {MAX_FILE_BYTES:,} bytes", 413
                if rel == "release.yml" and size > MAX_BUNDLE_YAML_BYTES:
                    return f"release.yml is over {MAX_BUNDLE_YAML_BYTES:,} bytes", 413
                if total > MAX_UPLOAD_BYTES:
                    return f"the upload is over {MAX_UPLOAD_BYTES:,} bytes in all", 413
                out.write(chunk)
        received.append(rel)
    return None if "release.yml" in files else "release.yml is missing from the upload"
