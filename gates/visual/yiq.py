"""Changed pixels by the YIQ colour-difference test, with anti-aliasing detection.

The test and its constants are the ones pixelmatch (up to v7) and odiff use (Kotsalis,
"Measuring perceived color difference using YIQ NTSC transmission color space", 2010), so a
changed fraction from here can be cross-checked against either tool: a pixel differs when the
weighted squared YIQ distance exceeds ``35215 * threshold**2`` (35215 is the largest possible
distance, between black and white).

Anti-aliasing follows pixelmatch's rule: a differing pixel whose 3×3 neighbourhood has both a
darker and a brighter neighbour, at most two equal ones, and whose darkest or brightest
neighbour sits in a flat area (more than two identical siblings) in both images, is an
anti-aliased edge rather than a change. Such pixels are reported separately, not counted.

Inputs are opaque RGBA uint8 (alpha is composited by the caller), shape (H, W, 4).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gates.subject import Pixels

BoolMask = npt.NDArray[np.bool_]
MAX_YIQ_DELTA = 35215.0

# Rows per band: bounds the float32 temporaries to a few tens of MB at 12 MP.
_BAND_PIXELS = 1 << 18
# Candidate pixels examined for anti-aliasing at a time (each needs 8 neighbours × 2 images).
_AA_CHUNK = 1 << 17

# pixelmatch visits neighbours column by column (x outer, y inner); keeping that order keeps
# its tie-breaking when two neighbours are equally dark or bright.
_OFFSETS = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0)])
_DX = _OFFSETS[:, 0]
_DY = _OFFSETS[:, 1]


def _yiq_delta(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Weighted squared YIQ distance; the transform is linear, so it is applied to the difference."""
    dr = a[..., 0].astype(np.float32)
    dr -= b[..., 0]
    dg = a[..., 1].astype(np.float32)
    dg -= b[..., 1]
    db = a[..., 2].astype(np.float32)
    db -= b[..., 2]
    y = dr * np.float32(0.29889531) + dg * np.float32(0.58662247) + db * np.float32(0.11448223)
    i = dr * np.float32(0.59597799) - dg * np.float32(0.2741761) - db * np.float32(0.32180189)
    q = dr * np.float32(0.21147017) - dg * np.float32(0.52261711) + db * np.float32(0.31114694)
    y *= y
    y *= np.float32(0.5053)
    i *= i
    i *= np.float32(0.299)
    q *= q
    q *= np.float32(0.1957)
    y += i
    y += q
    delta: npt.NDArray[np.float32] = y
    return delta


def _row_bands(h: int, w: int, rows: BoolMask | None) -> list[tuple[int, int]]:
    """(start, stop) row ranges covering the differing rows, each at most _BAND_PIXELS."""
    step = max(1, _BAND_PIXELS // max(w, 1))
    if rows is None:
        runs = [(0, h)]
    else:
        edges = np.flatnonzero(np.diff(np.concatenate(([0], rows.view(np.int8), [0]))))
        runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return [(r0, min(stop, r0 + step)) for start, stop in runs for r0 in range(start, stop, step)]


def over_threshold(a: Pixels, b: Pixels, threshold: float, rows: BoolMask | None = None) -> BoolMask:
    """Pixels whose YIQ distance exceeds the threshold (anti-aliasing not yet excluded).

    ``rows`` (optional) marks the rows that differ at all; only those are computed, so a local
    edit costs in proportion to the rows it touches.
    """
    h, w = a.shape[:2]
    out = np.zeros((h, w), dtype=np.bool_)
    limit = np.float32(MAX_YIQ_DELTA * threshold * threshold)
    for r0, r1 in _row_bands(h, w, rows):
        np.greater(_yiq_delta(a[r0:r1], b[r0:r1]), limit, out=out[r0:r1])
    return out


def _luma(px: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    r = px[..., 0].astype(np.float32)
    g = px[..., 1].astype(np.float32)
    b = px[..., 2].astype(np.float32)
    luma: npt.NDArray[np.float32] = r * np.float32(0.29889531) + g * np.float32(0.58662247) + b * np.float32(0.11448223)
    return luma


def _many_siblings(packed: npt.NDArray[np.uint32], ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]) -> BoolMask:
    """More than two of the 8 neighbours have exactly the same colour (edge pixels count one)."""
    h, w = packed.shape
    centre = packed[ys, xs]
    zeroes = ((xs == 0) | (xs == w - 1) | (ys == 0) | (ys == h - 1)).astype(np.int8)
    for dx, dy in zip(_DX, _DY, strict=True):
        nx = xs + dx
        ny = ys + dy
        valid = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
        same = packed[np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)] == centre
        zeroes += same & valid
    many: BoolMask = zeroes > 2
    return many


def _antialiased_in(
    img: Pixels,
    packed: npt.NDArray[np.uint32],
    other_packed: npt.NDArray[np.uint32],
    ys: npt.NDArray[np.intp],
    xs: npt.NDArray[np.intp],
) -> BoolMask:
    h, w = packed.shape
    n = ys.size
    nx = xs[:, None] + _DX[None, :]
    ny = ys[:, None] + _DY[None, :]
    valid = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
    cy = np.clip(ny, 0, h - 1)
    cx = np.clip(nx, 0, w - 1)
    delta = _luma(img[ys, xs])[:, None] - _luma(img[cy, cx])
    zeroes = ((xs == 0) | (xs == w - 1) | (ys == 0) | (ys == h - 1)).astype(np.int8)
    zeroes += np.count_nonzero((delta == 0) & valid, axis=1).astype(np.int8)
    darker = np.where(valid & (delta < 0), delta, np.inf)
    brighter = np.where(valid & (delta > 0), delta, -np.inf)
    has_both = np.isfinite(darker.min(axis=1)) & np.isfinite(brighter.max(axis=1))
    candidate = (zeroes <= 2) & has_both
    result = np.zeros(n, dtype=np.bool_)
    if not candidate.any():
        return result
    idx = np.flatnonzero(candidate)
    rows = np.arange(n)[idx]
    kmin = darker[idx].argmin(axis=1)
    kmax = brighter[idx].argmax(axis=1)
    min_y, min_x = cy[rows, kmin], cx[rows, kmin]
    max_y, max_x = cy[rows, kmax], cx[rows, kmax]
    flat_dark = _many_siblings(packed, min_y, min_x) & _many_siblings(other_packed, min_y, min_x)
    flat_bright = _many_siblings(packed, max_y, max_x) & _many_siblings(other_packed, max_y, max_x)
    result[idx] = flat_dark | flat_bright
    return result


def antialiased(a: Pixels, b: Pixels, ys: npt.NDArray[np.intp], xs: npt.NDArray[np.intp]) -> BoolMask:
    """For each given pixel: is the difference there anti-aliasing (in either image)?"""
    pa = np.ascontiguousarray(a).view(np.uint32)[..., 0]
    pb = np.ascontiguousarray(b).view(np.uint32)[..., 0]
    out = np.zeros(ys.size, dtype=np.bool_)
    for s in range(0, ys.size, _AA_CHUNK):
        cy, cx = ys[s : s + _AA_CHUNK], xs[s : s + _AA_CHUNK]
        aa = _antialiased_in(a, pa, pb, cy, cx)
        rest = ~aa
        if rest.any():
            aa[rest] = _antialiased_in(b, pb, pa, cy[rest], cx[rest])
        out[s : s + _AA_CHUNK] = aa
    return out


def changed_pixels(
    a: Pixels, b: Pixels, threshold: float = 0.1, rows: BoolMask | None = None
) -> tuple[BoolMask, BoolMask]:
    """(changed, anti-aliased) masks; a pixel is in at most one of them."""
    over = over_threshold(a, b, threshold, rows)
    ys, xs = np.nonzero(over)
    aa_mask = np.zeros_like(over)
    if ys.size:
        aa = antialiased(a, b, ys.astype(np.intp), xs.astype(np.intp))
        aa_mask[ys[aa], xs[aa]] = True
        over[ys[aa], xs[aa]] = False
    return over, aa_mask
