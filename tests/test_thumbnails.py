"""Diff thumbnails and the contact sheet."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bench.visual import photo_like
from bot.artifacts.thumbnails import MAX_WIDTH, RED, YELLOW, SheetItem, contact_sheet, diff_thumbnail, worst_first
from gates.policy import VisualDiffConfig
from gates.result import Status
from gates.visual.gate import compare_pixels


def rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def open_png(data: bytes) -> Image.Image:
    assert data.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_thumbnail_shows_change_in_red_and_stays_narrow() -> None:
    base = rgba(photo_like(1600, 900, seed=4))
    cand = base.copy()
    cand[400:420, 800:804, :3] = (0, 255, 0)  # 80 pixels: must survive a 10× reduction
    comp = compare_pixels(cand, base, VisualDiffConfig())
    im = open_png(diff_thumbnail(base, cand, comp))
    assert im.width <= MAX_WIDTH
    third = im.crop((2 * im.width // 3, 14, im.width, im.height))
    px = np.asarray(third).reshape(-1, 3)
    assert (px == RED).all(axis=1).sum() >= 1
    assert not (px == YELLOW).all(axis=1).any()  # no anti-aliasing in this change


def test_thumbnail_marks_antialiasing_yellow() -> None:
    h, w = 60, 60
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)

    def edge(offset: float) -> np.ndarray:
        v = (255 * (1 - np.clip(xx - yy * 0.5 - 10 + offset, 0, 1))).round().astype(np.uint8)
        return rgba(np.repeat(v[..., None], 3, axis=2))

    a, b = edge(0.0), edge(0.5)
    comp = compare_pixels(b, a, VisualDiffConfig())
    assert comp.antialiased.any()
    im = open_png(diff_thumbnail(a, b, comp))
    px = np.asarray(im).reshape(-1, 3)
    assert (px == YELLOW).all(axis=1).any()


def test_thumbnail_without_comparison_shows_both_sizes() -> None:
    base = rgba(photo_like(300, 200, seed=1))
    cand = rgba(photo_like(200, 200, seed=1))
    im = open_png(diff_thumbnail(base, cand, None))
    assert im.width <= MAX_WIDTH


def _thumb(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (470, 120), colour).save(buf, "PNG")
    return buf.getvalue()


def test_contact_sheet_worst_first_and_bounded() -> None:
    items = [
        SheetItem("ok", _thumb((0, 255, 0)), Status.PASS, 0.0),
        SheetItem("bad-small", _thumb((255, 128, 0)), Status.FAIL, 0.03),
        SheetItem("bad-big", _thumb((255, 0, 0)), Status.FAIL, 0.3),
        SheetItem("warn", _thumb((0, 0, 255)), Status.WARN, 0.01),
    ]
    assert [i.image_id for i in worst_first(items)] == ["bad-big", "bad-small", "warn", "ok"]
    png, left_out = contact_sheet(items, columns=2, max_items=3)
    assert left_out == 1
    sheet = open_png(png)
    assert sheet.width <= 2 * 470 + 3 * 8
    # The first cell (top left) holds the worst image: red.
    assert sheet.getpixel((8 + 100, 8 + 14 + 60)) == (255, 0, 0)
    assert sheet.getpixel((8 + 470 + 8 + 100, 8 + 14 + 60)) == (255, 128, 0)


def test_single_changed_pixel_survives_a_large_reduction() -> None:
    from bot.artifacts.thumbnails import _shrink_mask

    mask = np.zeros((3000, 4000), bool)
    mask[1234, 3210] = True
    small = _shrink_mask(mask, (156, 117))
    assert small.sum() == 1
    assert small[1234 * 117 // 3000, 3210 * 156 // 4000]
