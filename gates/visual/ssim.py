"""Grayscale SSIM (Wang, Bovik, Sheikh & Simoncelli, 2004).

Window: 7×7 uniform with the unbiased (N−1) covariance, K1=0.01, K2=0.03, data range 255 —
scikit-image's ``structural_similarity`` defaults, so anyone can reproduce our number with
``structural_similarity(rgb2gray(a), rgb2gray(b), data_range=1)``. As there, the mean is taken
over the pixels whose window lies fully inside the image (a 3-pixel border is left out).
Gray is Rec. 709 luma (``rgb2gray``'s weights) on the composited RGB.

Two things keep it fast: a window whose pixels are identical in both images has SSIM exactly 1,
so only row bands around differing rows are computed; and box sums are sliding sums of short
float32 runs (no cumulative sums, whose rounding error would grow along a 4000-pixel row).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gates.subject import Pixels

F32 = npt.NDArray[np.float32]

WIN = 7
_PAD = WIN // 2
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_COV_NORM = WIN * WIN / (WIN * WIN - 1)
_BAND_ROWS_PIXELS = 1 << 15


def gray(px: Pixels) -> F32:
    """Rec. 709 luma, centred on 0 so squares stay small and float32 variances stay exact enough."""
    r = px[..., 0].astype(np.float32)
    g = px[..., 1].astype(np.float32)
    b = px[..., 2].astype(np.float32)
    out = r * np.float32(0.2125) + g * np.float32(0.7154) + b * np.float32(0.0721)
    out -= np.float32(127.5)
    centred: F32 = out
    return centred


def _box7(x: F32, axis: int) -> F32:
    """Sum of 7 consecutive values along ``axis`` ('valid' mode): 2 → 4 → 7 with 4 additions."""
    n = x.shape[axis]

    def sl(start: int, stop: int, arr: F32) -> F32:
        idx: list[slice] = [slice(None)] * arr.ndim
        idx[axis] = slice(start, stop)
        return arr[tuple(idx)]

    s2 = sl(0, n - 1, x) + sl(1, n, x)
    s4 = sl(0, n - 3, s2) + sl(2, n - 1, s2)
    s7 = sl(0, n - 6, s4)
    s7 += sl(4, n - 2, s2)
    s7 += sl(6, n, x)
    return s7


def _box(x: F32) -> F32:
    return _box7(_box7(x, x.ndim - 2), x.ndim - 1)


def _ssim_map(x: F32, y: F32) -> F32:
    """SSIM for every full window of the (rows, W) float32 bands x, y: shape (rows−6, W−6)."""
    # One stacked array: five box filters cost the numpy call overhead of one.
    stack = np.empty((5, *x.shape), dtype=np.float32)
    stack[0] = x
    stack[1] = y
    np.multiply(x, x, out=stack[2])
    np.multiply(y, y, out=stack[3])
    np.multiply(x, y, out=stack[4])
    sums = _box(stack)
    sums *= np.float32(1.0 / (WIN * WIN))
    ux, uy, vx, vy, vxy = sums
    norm = np.float32(_COV_NORM)
    vx -= ux * ux
    vx *= norm
    vy -= uy * uy
    vy *= norm
    vxy -= ux * uy
    vxy *= norm
    # Variances do not care about gray()'s centring, the luminance term does: undo it.
    ux += np.float32(127.5)
    uy += np.float32(127.5)
    a1 = ux * uy
    a1 *= np.float32(2)
    a1 += np.float32(_C1)
    vxy *= np.float32(2)
    vxy += np.float32(_C2)
    a1 *= vxy
    ux *= ux
    uy *= uy
    ux += uy
    ux += np.float32(_C1)
    vx += vy
    vx += np.float32(_C2)
    ux *= vx
    a1 /= ux
    s_map: F32 = a1
    return s_map


def _dilate_rows(rows: npt.NDArray[np.bool_], radius: int) -> npt.NDArray[np.bool_]:
    out = rows.copy()
    for k in range(1, radius + 1):
        out[k:] |= rows[:-k]
        out[:-k] |= rows[k:]
    return out


def ssim(a: Pixels, b: Pixels, differing_rows: npt.NDArray[np.bool_] | None = None) -> float:
    """Mean SSIM of two same-sized opaque RGBA images (see the module docstring for the window).

    ``differing_rows`` marks rows with any differing pixel; windows touching none of them are
    identical in both images and contribute exactly 1 without being computed.
    """
    h, w = a.shape[:2]
    if h < WIN or w < WIN:
        raise ValueError(f"SSIM needs at least {WIN}×{WIN} pixels, got {w}×{h}")
    out_h = h - 2 * _PAD
    total_windows = out_h * (w - 2 * _PAD)
    if differing_rows is None:
        differing_rows = np.ones(h, dtype=np.bool_)
    # Output row r (window centre r+3) needs input rows r..r+6.
    needed = _dilate_rows(differing_rows, _PAD)[_PAD : h - _PAD]
    if not needed.any():
        return 1.0
    total = 0.0
    computed = 0
    step = max(8, _BAND_ROWS_PIXELS // w)
    # Contiguous runs of needed output rows, split into bands to bound memory.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], needed.view(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        for r0 in range(int(start), int(stop), step):
            r1 = min(int(stop), r0 + step)
            x = gray(a[r0 : r1 + 2 * _PAD])
            y = gray(b[r0 : r1 + 2 * _PAD])
            m = _ssim_map(x, y)
            total += float(m.sum(dtype=np.float64))
            computed += m.size
    mean: float = (total + (total_windows - computed)) / total_windows
    return mean
