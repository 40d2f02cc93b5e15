"""Benchmark of the visual_diff gate against odiff and the naive scikit-image path.

    python -m bench.visual [--sizes 1920x1080,4000x3000] [--repeat 5] [--bundle 20]

Generates photo-like pairs (smooth colour fields, texture, hard-edged shapes and grain) as
PNG: a local change plus a JPEG q90 re-encode, a local change only, and an identical copy; then
prints one table. odiff comes from npm ``odiff-bin``, installed into a cache directory
(``$RELEASEGATE_BENCH_CACHE`` or ``~/.cache/releasegate-bench``) on first use. Numbers are
medians of ``--repeat`` runs; memory is the peak RSS growth of a fresh child process.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PAIRS = ("reencode+local", "local", "identical")


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image with the statistics that matter for diffs: gradients, edges, grain."""
    rng = np.random.default_rng(seed)

    def field(scale: int, amp: float) -> np.ndarray:
        small = rng.random((max(2, height // scale), max(2, width // scale), 3)) * 255
        im = Image.fromarray(small.astype(np.uint8), "RGB").resize((width, height), Image.Resampling.BICUBIC)
        return (np.asarray(im, dtype=np.float32) - 127.5) * amp

    img = 127.5 + field(max(width, height) // 6, 0.9) + field(48, 0.35) + field(6, 0.12)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(canvas)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(width // 30, width // 6))
        y1 = y0 + int(rng.integers(height // 30, height // 6))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    out = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 3.0, (height, width, 3)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def local_change(rgb: np.ndarray, seed: int = 1) -> np.ndarray:
    """A product shot swapped for another: a filled panel with text over ~1% of the frame."""
    h, w = rgb.shape[:2]
    im = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(im)
    pw, ph = w // 10, h // 10
    x0, y0 = w // 2, h // 3
    draw.rectangle((x0, y0, x0 + pw, y0 + ph), fill=(200, 40, 60))
    draw.text((x0 + 10, y0 + 10), "NEW -20%", fill=(255, 255, 255))
    return np.asarray(im, dtype=np.uint8)


def jpeg_q90(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=90)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8)


def make_pair(kind: str, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, candidate) RGB arrays for one of PAIRS."""
    base = photo_like(width, height, seed)
    if kind == "identical":
        return base, base.copy()
    cand = local_change(base)
    if kind == "reencode+local":
        cand = jpeg_q90(cand)
    return base, cand


def write_png(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, "PNG", compress_level=1)
