"""CIEDE2000 colour differences (Sharma, Wu & Dalal, 2005) in float32, band by band.

sRGB → CIELAB uses the D65 white point and 2° observer with the same matrix and constants as
scikit-image's ``rgb2lab``, so values can be checked against ``deltaE_ciede2000`` (kL=kC=kH=1).
sRGB linearisation of a uint8 channel is a 256-entry table instead of a power per pixel.

Only pixels whose colour differs at all are computed (an identical pixel has ΔE 0), in bands of
at most ``_BAND`` pixels so memory stays at tens of MB even for a 12 MP frame that differs
everywhere, as a re-encode does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gates.subject import Pixels

F32 = npt.NDArray[np.float32]
JND = 2.3  # Sharma 2003: a CIELAB difference of about 2.3 is just noticeable

_BAND = 1 << 16  # 256 KB float32 temporaries stay in cache; faster than 1 MB bands

_c = np.arange(256, dtype=np.float64) / 255.0
_SRGB_TO_LINEAR: F32 = np.where(_c > 0.04045, ((_c + 0.055) / 1.055) ** 2.4, _c / 12.92).astype(np.float32)
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
# Rows pre-divided by the D65 reference white, so X/Xn etc. come out of one multiply.
_WHITE = np.array([0.95047, 1.0, 1.08883])
_M: F32 = (_XYZ_FROM_RGB / _WHITE[:, None]).astype(np.float32)
_25_POW_7 = np.float32(25.0**7)


def _f(t: F32) -> F32:
    out: F32 = np.cbrt(t)
    # The linear segment only covers near-black; patching those few pixels afterwards is
    # cheaper than evaluating both branches for every pixel.
    dark = np.flatnonzero(t <= np.float32(0.008856))
    if dark.size:
        out[dark] = t[dark] * np.float32(7.787) + np.float32(16.0 / 116.0)
    return out


def rgb_to_lab(rgb: npt.NDArray[np.uint8]) -> tuple[F32, F32, F32]:
    """(L, a, b) float32 for an (N, 3) or (N, 4) uint8 array (alpha ignored)."""
    r = np.take(_SRGB_TO_LINEAR, rgb[:, 0])
    g = np.take(_SRGB_TO_LINEAR, rgb[:, 1])
    b = np.take(_SRGB_TO_LINEAR, rgb[:, 2])
    fx = _f(r * _M[0, 0] + g * _M[0, 1] + b * _M[0, 2])
    fy = _f(r * _M[1, 0] + g * _M[1, 1] + b * _M[1, 2])
    fz = _f(r * _M[2, 0] + g * _M[2, 1] + b * _M[2, 2])
    big_l = fy * np.float32(116.0) - np.float32(16.0)
    return big_l, (fx - fy) * np.float32(500.0), (fy - fz) * np.float32(200.0)


def _pow7(x: F32) -> F32:
    # np.power with an integer exponent is ~50× slower than three multiplications here.
    x2 = x * x
    x3 = x2 * x
    x3 *= x2
    x3 *= x2
    return x3


def _norm(a: F32, b: F32) -> F32:
    # np.hypot guards against overflow we cannot have (|a|, |b| < 200) at 6× the cost.
    return np.sqrt(a * a + b * b)


def _hue(a: F32, b: F32) -> F32:
    h = np.arctan2(b, a)
    h += (h < 0) * np.float32(2 * np.pi)
    return h


def ciede2000(lab1: tuple[F32, F32, F32], lab2: tuple[F32, F32, F32]) -> F32:
    """ΔE00 per element of two CIELAB triples of equal-length float32 arrays."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    f32 = np.float32
    c_bar = (_norm(a1, b1) + _norm(a2, b2)) * f32(0.5)
    c7 = _pow7(c_bar)
    g = f32(1.5) - f32(0.5) * np.sqrt(c7 / (c7 + _25_POW_7))  # 1 + G
    a1p = a1 * g
    a2p = a2 * g
    c1 = _norm(a1p, b1)
    c2 = _norm(a2p, b2)
    h1 = _hue(a1p, b1)
    h2 = _hue(a2p, b2)

    l_bar = (l1 + l2) * f32(0.5)
    t = (l_bar - f32(50.0)) ** 2
    s_l = f32(1.0) + f32(0.015) * t / np.sqrt(f32(20.0) + t)
    l_term = (l2 - l1) / s_l

    cp_bar = (c1 + c2) * f32(0.5)
    c_term = (c2 - c1) / (f32(1.0) + f32(0.045) * cp_bar)

    cc = c1 * c2
    chromatic = cc != 0
    two_pi = f32(2 * np.pi)
    h_diff = h2 - h1
    # |h2' − h1'| > 180° decides Δh′ and the mean hue. Rounded hues cannot decide it within
    # rounding of 180°: Sharma's pair 14 is exactly 180° apart (no wrap, ΔE 4.8045) and came out
    # just above π (4.7461). There the sign of the cross product a1′·b2 − b1·a2′ decides: the pair
    # is more than 180° apart when it turns against h_diff, exactly 180° when it is 0 (as it is,
    # exactly, for opposite colours).
    abs_diff = np.abs(h_diff)
    wrap = abs_diff > f32(np.pi)
    near = np.flatnonzero(np.abs(abs_diff - f32(np.pi)) < f32(1e-3))
    if near.size:
        cross = a1p[near] * b2[near] - b1[near] * a2p[near]
        wrap[near] = cross * h_diff[near] < 0
    wrap &= chromatic
    # Masks become arithmetic: boolean-mask indexing is ~10× slower on scattered masks.
    d_h = h_diff - np.copysign(two_pi, h_diff) * wrap
    d_h *= chromatic
    dh_term = f32(2.0) * np.sqrt(cc) * np.sin(d_h * f32(0.5))

    h_bar = h1 + h2
    # +2π when the sum is below 2π, −2π otherwise; an achromatic pair takes the sum (×2 then ½).
    h_bar += wrap * np.where(h_bar < 2 * np.pi, two_pi, -two_pi)
    h_bar *= f32(2.0) - chromatic
    h_bar *= f32(0.5)
    # T's four cosines from one sine/cosine pair (multiple-angle identities).
    ch = np.cos(h_bar)
    sh = np.sin(h_bar)
    c2h = f32(2.0) * ch * ch - f32(1.0)
    s2h = f32(2.0) * sh * ch
    c3h = ch * (f32(4.0) * ch * ch - f32(3.0))
    s3h = sh * (f32(3.0) - f32(4.0) * sh * sh)
    c4h = f32(2.0) * c2h * c2h - f32(1.0)
    s4h = f32(2.0) * s2h * c2h
    cos30, sin30 = f32(np.cos(np.pi / 6)), f32(0.5)
    cos6, sin6 = f32(np.cos(np.deg2rad(6))), f32(np.sin(np.deg2rad(6)))
    cos63, sin63 = f32(np.cos(np.deg2rad(63))), f32(np.sin(np.deg2rad(63)))
    t_h = (
        f32(1.0)
        - f32(0.17) * (ch * cos30 + sh * sin30)
        + f32(0.24) * c2h
        + f32(0.32) * (c3h * cos6 - s3h * sin6)
        - f32(0.20) * (c4h * cos63 + s4h * sin63)
    )
    h_term = dh_term / (f32(1.0) + f32(0.015) * cp_bar * t_h)

    cp7 = _pow7(cp_bar)
    r_c = f32(2.0) * np.sqrt(cp7 / (cp7 + _25_POW_7))
    z = (h_bar * f32(180.0 / np.pi) - f32(275.0)) * f32(1.0 / 25.0)
    z *= z
    # Capped so exp() stays out of float32 denormals, which are ~20× slower to compute with
    # and change ΔE by less than 1e-30.
    np.minimum(z, f32(80.0), out=z)
    d_theta = f32(np.pi / 6) * np.exp(-z)
    r_term = -np.sin(f32(2.0) * d_theta) * r_c * c_term * h_term

    de2 = l_term * l_term + c_term * c_term + h_term * h_term + r_term
    de: F32 = np.sqrt(np.maximum(de2, f32(0.0)))
    return de


@dataclass(frozen=True)
class DeltaEStats:
    """ΔE00 over the whole frame (identical pixels count as 0) and over the YIQ-changed pixels."""

    mean: float
    p95: float
    max: float
    jnd_fraction: float  # share of all pixels with ΔE00 > JND
    changed_mean: float | None  # over the changed pixels only; None when none changed
    changed_p95: float | None


def _percentile(nonzero: F32, zeros: int, q: float) -> float:
    """``np.percentile(values, q)`` (linear) of ``zeros`` zeros plus ``nonzero``, without the zeros."""
    n = zeros + nonzero.size
    if n == 0 or nonzero.size == 0:
        return 0.0
    pos = q / 100.0 * (n - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, n - 1)
    ks = sorted({k - zeros for k in (lo, hi) if k >= zeros})
    part = np.partition(nonzero, ks) if ks else nonzero

    def at(k: int) -> float:
        return 0.0 if k < zeros else float(part[k - zeros])

    return at(lo) + (at(hi) - at(lo)) * (pos - lo)


def _packed_flat(px: Pixels) -> npt.NDArray[np.uint32]:
    flat: npt.NDArray[np.uint32] = np.ascontiguousarray(px).view(np.uint32).reshape(-1)
    return flat


def delta_e_part(
    a: Pixels,
    b: Pixels,
    changed: npt.NDArray[np.bool_] | None,
    differ: npt.NDArray[np.bool_] | None,
    part: int = 0,
    parts: int = 1,
) -> tuple[F32, F32]:
    """ΔE00 of the differing pixels in one of ``parts`` equal slices of the frame, and of the
    changed pixels among them. numpy releases the GIL inside each operation, so slices can run
    on threads side by side."""
    total = a.shape[0] * a.shape[1]
    # One uint32 per pixel: gathering 4-byte words is several times faster than gathering rows.
    pa = _packed_flat(a)
    pb = _packed_flat(b)
    differ_flat = (pa != pb) if differ is None else differ.reshape(-1)
    changed_flat = changed.reshape(-1) if changed is not None else None
    per = -(-total // parts // _BAND) * _BAND
    lo, hi = min(total, part * per), min(total, (part + 1) * per)
    values: list[F32] = []
    changed_values: list[F32] = []
    for s in range(lo, hi, _BAND):
        e = min(hi, s + _BAND)
        band = differ_flat[s:e]
        idx = None if band.all() else np.flatnonzero(band) + s
        if idx is not None and idx.size == 0:
            continue
        qa = pa[s:e] if idx is None else pa[idx]
        qb = pb[s:e] if idx is None else pb[idx]
        de = ciede2000(rgb_to_lab(qa.view(np.uint8).reshape(-1, 4)), rgb_to_lab(qb.view(np.uint8).reshape(-1, 4)))
        values.append(de)
        if changed_flat is not None:
            changed_values.append(de[changed_flat[s:e] if idx is None else changed_flat[idx]])
    empty = np.zeros(0, dtype=np.float32)
    return (
        np.concatenate(values) if values else empty,
        np.concatenate(changed_values) if changed_values else empty,
    )


def combine(total: int, parts: list[tuple[F32, F32]]) -> DeltaEStats:
    """Statistics over a whole frame of ``total`` pixels from its ``delta_e_part`` slices."""
    values = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    changed_values = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.float32)
    zeros = total - values.size
    has_changed = changed_values.size > 0
    return DeltaEStats(
        mean=float(values.sum(dtype=np.float64)) / total if total else 0.0,
        p95=_percentile(values, zeros, 95.0),
        max=float(values.max()) if values.size else 0.0,
        jnd_fraction=float(np.count_nonzero(values > JND)) / total if total else 0.0,
        changed_mean=float(changed_values.mean(dtype=np.float64)) if has_changed else None,
        # Every YIQ-changed pixel differs, so none of the changed values are implicit zeros.
        changed_p95=_percentile(changed_values, 0, 95.0) if has_changed else None,
    )


def delta_e_stats(
    a: Pixels,
    b: Pixels,
    changed: npt.NDArray[np.bool_] | None = None,
    differ: npt.NDArray[np.bool_] | None = None,
) -> DeltaEStats:
    """Statistics of ΔE00 between two same-sized opaque RGBA images.

    ``differ`` (optional) is the mask of pixels that differ at all, if the caller has it.
    """
    return combine(a.shape[0] * a.shape[1], [delta_e_part(a, b, changed, differ)])
