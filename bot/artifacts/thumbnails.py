"""Diff thumbnails and the per-release contact sheet posted into the release thread.

A thumbnail is three panels, baseline | candidate | diff, at most ``MAX_WIDTH`` pixels wide.
The diff panel shows the baseline faded to a light grey with changed pixels in red and
anti-aliased pixels in yellow. Masks are reduced with "any pixel in the cell" rather than
averaged, so a one-pixel change in a 4000-pixel-wide image still shows at thumbnail size.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from gates.result import GateResult, Status
from gates.subject import Pixels
from gates.visual.gate import VisualComparison, composite

MAX_WIDTH = 480
MAX_PANEL_HEIGHT = 320
GAP = 4
LABEL_H = 14
RED = (230, 20, 20)
YELLOW = (250, 200, 0)
BOX_OUTLINE = (230, 20, 20)
# Slack scales an uploaded image to the message width; beyond ~2 columns × 6 rows the
# thumbnails become unreadable there, so the sheet stops at 12 and says how many it left out.
SHEET_COLUMNS = 2
SHEET_MAX_ITEMS = 12


def _panel_size(width: int, height: int) -> tuple[int, int]:
    """Panel size keeping the aspect ratio; small images are never scaled up."""
    pw = (MAX_WIDTH - 2 * GAP) // 3
    if width <= pw and height <= MAX_PANEL_HEIGHT:
        return width, height
    ph = max(1, round(height * pw / width))
    if ph > MAX_PANEL_HEIGHT:
        return max(1, round(width * MAX_PANEL_HEIGHT / height)), MAX_PANEL_HEIGHT
    return pw, ph


def _shrink(px: Pixels, size: tuple[int, int], backdrop: int) -> Image.Image:
    if (px[..., 3] != 255).any():
        px = composite(px, backdrop)
    # RGBA wraps the array without a copy; an integer reduce() first makes the final resize cheap.
    im = Image.fromarray(np.ascontiguousarray(px), "RGBA")
    factor = min(im.width // size[0], im.height // size[1])
    if factor >= 2:
        im = im.reduce(factor)
    if im.size != size:
        im = im.resize(size, Image.Resampling.BOX)
    return im.convert("RGB")


def _shrink_mask(mask: npt.NDArray[np.bool_], size: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """A cell is marked when any pixel in it is: max-pooling with uneven cells via reduceat."""
    h, w = mask.shape
    pw, ph = size
    rows = np.maximum.reduceat(mask.view(np.uint8), (np.arange(ph) * h) // ph, axis=0)
    cells = np.maximum.reduceat(rows, (np.arange(pw) * w) // pw, axis=1)
    out: npt.NDArray[np.bool_] = cells > 0
    return out


def _labelled(panels: Sequence[tuple[str, Image.Image]], size: tuple[int, int]) -> Image.Image:
    pw, ph = size
    sheet = Image.new("RGB", (pw * len(panels) + GAP * (len(panels) - 1), ph + LABEL_H), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, im) in enumerate(panels):
        x = i * (pw + GAP)
        sheet.paste(im, (x, LABEL_H))
        draw.text((x + 2, 1), label, fill=(60, 60, 60))
    return sheet


def diff_thumbnail(baseline: Pixels, candidate: Pixels, comparison: VisualComparison | None = None) -> bytes:
    """PNG bytes of baseline | candidate | diff. Without a comparison (e.g. sizes differ) the
    third panel is left out and each image is scaled on its own."""
    h, w = baseline.shape[:2]
    backdrop = 0 if comparison is not None and comparison.backdrop == "black" else 255
    size = _panel_size(w, h)
    if comparison is None or candidate.shape[:2] != baseline.shape[:2]:
        ch, cw = candidate.shape[:2]
        csize = _panel_size(cw, ch)
        common = (max(size[0], csize[0]), max(size[1], csize[1]))
        panels = [
            (f"baseline {w}×{h}", _shrink(baseline, size, backdrop)),
            (f"candidate {cw}×{ch}", _shrink(candidate, csize, backdrop)),
        ]
        canvas = [(label, _pad(im, common)) for label, im in panels]
        return _png(_labelled(canvas, common))
    base_im = _shrink(baseline, size, backdrop)
    cand_im = _shrink(candidate, size, backdrop)
    gray = np.asarray(base_im.convert("L"), dtype=np.uint16)
    faded = (gray + 3 * 255) // 4  # a light, low-contrast copy keeps context without competing
    diff = np.repeat(faded.astype(np.uint8)[..., None], 3, axis=2)
    aa = _shrink_mask(comparison.antialiased, size)
    changed = _shrink_mask(comparison.changed, size)
    diff[aa] = YELLOW
    diff[changed] = RED  # a cell holding both shows the change, the thing that matters
    diff_im = Image.fromarray(diff, "RGB")
    if comparison.boxes:
        draw = ImageDraw.Draw(diff_im)
        sx, sy = size[0] / w, size[1] / h
        for b in comparison.boxes[:10]:
            x0, y0 = int(b.x * sx) - 2, int(b.y * sy) - 2
            x1, y1 = int((b.x + b.width) * sx) + 2, int((b.y + b.height) * sy) + 2
            draw.rectangle((x0, y0, x1, y1), outline=BOX_OUTLINE)
    label = f"diff {comparison.changed_fraction:.2%}"
    return _png(_labelled([("baseline", base_im), ("candidate", cand_im), (label, diff_im)], size))


def _pad(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    if im.size == size:
        return im
    out = Image.new("RGB", size, "white")
    out.paste(im, (0, 0))
    return out


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


@dataclass(frozen=True)
class SheetItem:
    image_id: str
    png: bytes
    status: Status
    changed_fraction: float | None = None


_RANK = {Status.FAIL: 0, Status.INCONCLUSIVE: 1, Status.WARN: 2, Status.PASS: 3}


def worst_first(items: Sequence[SheetItem]) -> list[SheetItem]:
    """Failed before inconclusive before warned before passed; within each, most changed first."""
    return sorted(items, key=lambda i: (_RANK[i.status], -(i.changed_fraction or 0.0), i.image_id))


def contact_sheet(
    items: Sequence[SheetItem], columns: int = SHEET_COLUMNS, max_items: int = SHEET_MAX_ITEMS
) -> tuple[bytes, int]:
    """(PNG bytes of a grid of thumbnails, worst first; how many items did not fit)."""
    if not items:
        raise ValueError("a contact sheet needs at least one thumbnail")
    ordered = worst_first(items)
    shown = ordered[:max_items]
    thumbs = [Image.open(io.BytesIO(i.png)).convert("RGB") for i in shown]
    cell_w = max(t.width for t in thumbs)
    cell_h = max(t.height for t in thumbs) + LABEL_H
    cols = min(columns, len(thumbs))
    rows = -(-len(thumbs) // cols)
    pad = 8
    sheet = Image.new("RGB", (cols * cell_w + (cols + 1) * pad, rows * cell_h + (rows + 1) * pad), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (item, thumb) in enumerate(zip(shown, thumbs, strict=True)):
        x = pad + (k % cols) * (cell_w + pad)
        y = pad + (k // cols) * (cell_h + pad)
        caption = f"{item.image_id} · {item.status.value}"
        if item.changed_fraction is not None:
            caption += f" · {item.changed_fraction:.2%} changed"
        colour = (200, 0, 0) if item.status is Status.FAIL else (40, 40, 40)
        draw.text((x, y), caption, fill=colour)
        sheet.paste(thumb, (x, y + LABEL_H))
    return _png(sheet), len(ordered) - len(shown)


def is_major(result: GateResult) -> bool:
    """Posted inline in Slack: a failed visual diff. Everything else goes into the report only."""
    return result.gate == "visual_diff" and result.status is Status.FAIL
