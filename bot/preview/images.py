"""Decoding image files safely: facts for the budget gate, RGBA pixels for the visual gates.

Pillow's own decompression-bomb guard is global state; we check the declared pixel count
ourselves from the header (no pixel data is read) before anything is decoded.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from bot.preview.metadata import metadata_of
from gates.subject import ImageFacts, Pixels

with contextlib.suppress(ImportError):  # AVIF is built into Pillow >= 11.3; older installs need the plugin
    import pillow_avif  # type: ignore[import-not-found,unused-ignore]  # noqa: F401

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
    return decode_image(root, rel, max_pixels, pixels=False)[0]


_second_decoder: ThreadPoolExecutor | None = None


def decode_pair(
    root: Path, candidate: str, baseline: str, max_pixels: int, *, pixels: bool = True
) -> tuple[tuple[ImageFacts, Pixels | None], tuple[ImageFacts, Pixels | None]]:
    """Candidate and baseline decoded at the same time: Pillow's decoders release the GIL, so
    the two halve a pair's decode time wherever a core is free (a release of a few images)."""
    global _second_decoder
    if _second_decoder is None:
        # One per process, created in the process that uses it (pool workers are forked).
        _second_decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
    other = _second_decoder.submit(decode_image, root, baseline, max_pixels, pixels=pixels)
    try:
        first = decode_image(root, candidate, max_pixels, pixels=pixels)
    finally:
        second = other.result()
    return first, second


def decode_image(root: Path, rel: str, max_pixels: int, *, pixels: bool = True) -> tuple[ImageFacts, Pixels | None]:
    """Facts about a file and, if asked, its RGBA pixels — from a single decode.

    Decoding is the most expensive step of a visual diff; inspecting and then loading would do
    it twice. Pixels are None whenever ``facts.error`` is set.
    """
    try:
        path = resolve_inside(root, rel)
    except ImageLoadError as exc:
        return ImageFacts(path=rel, exists=False, error=str(exc)), None
    if not path.is_file():
        return ImageFacts(path=rel, exists=False, error=f"{rel}: file not found in the bundle"), None
    size = path.stat().st_size
    rgba: Pixels | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = _FORMAT_NAMES.get(im.format or "", (im.format or "unknown").lower())
                w, h = im.size
                if w * h > max_pixels:
                    return ImageFacts(
                        path=rel,
                        exists=True,
                        size_bytes=size,
                        format=fmt,
                        width=w,
                        height=h,
                        error=f"{rel}: {w}×{h} = {w * h:,} pixels is over the {max_pixels:,} pixel limit;"
                        " refused without decoding",
                    ), None
                orientation = im.getexif().get(0x0112)
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    im.seek(0)  # n_frames may have walked the file; compare the first frame
                mode = im.mode
                icc = im.info.get("icc_profile")
                has_alpha = "A" in mode or "transparency" in im.info
                im.load()  # full decode: truncated or corrupt data fails here
                # metadata (issue 7): after load(), PNG text chunks that follow the pixels are known
                meta_text, meta_flags = metadata_of(im)
                if orientation in (5, 6, 7, 8):
                    w, h = h, w
                if pixels:
                    rgba = to_rgba(im)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        return ImageFacts(path=rel, exists=True, size_bytes=size, error=f"{rel}: cannot decode ({exc})"), None
    return ImageFacts(
        path=rel,
        exists=True,
        size_bytes=size,
        format=fmt,
        width=w,
        height=h,
        mode=mode,
        frames=frames,
        exif_orientation=orientation,
        has_alpha=has_alpha,
        icc_profile_name=meta_flags.get("icc_profile") or ("embedded" if icc else None),
        metadata_text=meta_text,
        metadata_flags=meta_flags,
    ), rgba


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(im: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile (CMYK press profiles, Display P3, …) as a browser would.

    Without one, CMYK falls back to Pillow's naive conversion and RGB is taken as sRGB.
    """
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if im.mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(src).lower():
            return im  # already sRGB: converting would only cost time
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(im, src, _SRGB, outputMode=out_mode)
        return converted if converted is not None else im
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im  # a broken profile is the file's problem, not a reason to refuse the pixels


def to_rgba(im: Image.Image) -> Pixels:
    """RGBA uint8 of the current frame with EXIF orientation and any ICC profile applied."""
    # exif_transpose copies the image even when there is nothing to do (~17 ms at FHD).
    orientation = im.getexif().get(0x0112)
    oriented = ImageOps.exif_transpose(im) if orientation in (2, 3, 4, 5, 6, 7, 8) else im
    if oriented.mode.startswith("I;16") or oriented.mode == "I":
        # 16-bit grey: scale 0…65535 to 0…255 (rounding), never guess from the value range —
        # a dark 16-bit image is still 16-bit.
        arr = np.asarray(oriented, dtype=np.uint32)
        scale = 65535 if oriented.mode.startswith("I;16") or arr.max() > 255 else 255
        gray = ((arr * 255 + scale // 2) // scale).astype(np.uint8)
        oriented = Image.fromarray(gray, "L")
    oriented = _to_srgb(oriented)
    rgba = oriented if oriented.mode == "RGBA" else oriented.convert("RGBA")
    # Read-only (it wraps the bytes Pillow hands over); every comparison makes new arrays.
    return np.asarray(rgba, dtype=np.uint8)


def load_rgba(root: Path, rel: str, max_pixels: int) -> Pixels:
    """Decode to RGBA uint8 with EXIF orientation applied (first frame of animations).

    16-bit, palette and CMYK images are converted by Pillow's own conversions (and an embedded
    ICC profile, when there is one) so that the numbers we compare are what a browser shows,
    not raw channel values.
    """
    path = resolve_inside(root, rel)
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > max_pixels:
                raise ImageLoadError(f"{rel}: over the {max_pixels:,} pixel limit")
            im.seek(0)
            return to_rgba(im)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageLoadError(f"{rel}: cannot decode ({exc})") from exc
