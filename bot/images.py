"""Decoding image files safely: facts for the budget gate, RGBA pixels for the visual gates.

Pillow's own decompression-bomb guard is global state; we check the declared pixel count
ourselves from the header (no pixel data is read) before anything is decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from bot.image_metadata import metadata_of
from gates.subject import ImageFacts, Pixels

try:  # AVIF support is built into Pillow >= 11.3; older installs may have the plugin.
    import pillow_avif  # type: ignore[import-not-found]  # noqa: F401
except ImportError:
    pass

_FORMAT_NAMES = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "AVIF": "avif", "GIF": "gif"}


class ImageLoadError(ValueError):
    """An image file cannot be used; the message names the file."""


def resolve_inside(root: Path, rel: str) -> Path:
    """The real path of ``rel`` under ``root``; refuses anything (symlinks too) that leaves it."""
    root_real = root.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root_real):
        raise ImageLoadError(f"{rel}: resolves outside the bundle (symlink or '..')")
    return target


def inspect_image(root: Path, rel: str, max_pixels: int) -> ImageFacts:
    """Read a file's header and verify it decodes fully, without keeping the pixels."""
    try:
        path = resolve_inside(root, rel)
    except ImageLoadError as exc:
        return ImageFacts(path=rel, exists=False, error=str(exc))
    if not path.is_file():
        return ImageFacts(path=rel, exists=False, error=f"{rel}: file not found in the bundle")
    size = path.stat().st_size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = _FORMAT_NAMES.get(im.format or "", (im.format or "unknown").lower())
                w, h = im.size
                if w * h > max_pixels:
                    return ImageFacts(
                        path=rel, exists=True, size_bytes=size, format=fmt, width=w, height=h,
                        error=f"{rel}: {w}×{h} = {w * h:,} pixels is over the {max_pixels:,} pixel limit;"
                        " refused without decoding",
                    )
                orientation = im.getexif().get(0x0112)
                frames = getattr(im, "n_frames", 1)
                mode = im.mode
                icc = im.info.get("icc_profile")
                has_alpha = "A" in mode or "transparency" in im.info
                im.load()  # full decode: truncated or corrupt data fails here
                # metadata (issue 7): after load(), PNG text chunks that follow the pixels are known
                meta_text, meta_flags = metadata_of(im)
                if orientation in (5, 6, 7, 8):
                    w, h = h, w
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        return ImageFacts(path=rel, exists=True, size_bytes=size, error=f"{rel}: cannot decode ({exc})")
    return ImageFacts(
        path=rel, exists=True, size_bytes=size, format=fmt, width=w, height=h, mode=mode,
        frames=frames, exif_orientation=orientation, has_alpha=has_alpha,
        icc_profile_name=meta_flags.get("icc_profile") or ("embedded" if icc else None),
        metadata_text=meta_text, metadata_flags=meta_flags,
    )


def load_rgba(root: Path, rel: str, max_pixels: int) -> Pixels:
    """Decode to RGBA uint8 with EXIF orientation applied (first frame of animations).

    16-bit, palette and CMYK images are converted by Pillow's own conversions so that
    the numbers we compare are what a browser shows, not raw channel values.
    """
    path = resolve_inside(root, rel)
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > max_pixels:
                raise ImageLoadError(f"{rel}: over the {max_pixels:,} pixel limit")
            im.seek(0)
            oriented = ImageOps.exif_transpose(im)
            if oriented.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr16 = np.asarray(oriented, dtype=np.uint32)
                gray = (arr16 >> 8).astype(np.uint8) if arr16.max() > 255 else arr16.astype(np.uint8)
                oriented = Image.fromarray(gray, "L")
            rgba = oriented.convert("RGBA")
            return np.asarray(rgba, dtype=np.uint8).copy()
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{rel}: cannot decode ({exc})") from exc
