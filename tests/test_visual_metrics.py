"""The visual measures against scikit-image (the correctness reference) and pixelmatch's rules."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2gray, rgb2lab
from skimage.metrics import structural_similarity

from bench.visual import jpeg_q90, local_change, photo_like
from gates.visual.ciede2000 import JND, ciede2000, delta_e_stats, rgb_to_lab
from gates.visual.clusters import changed_boxes
from gates.visual.ssim import ssim
from gates.visual.yiq import MAX_YIQ_DELTA, changed_pixels, over_threshold


def rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    base = photo_like(320, 240, seed=3)
    return base, jpeg_q90(local_change(base))


def test_ssim_matches_skimage_defaults(pair: tuple[np.ndarray, np.ndarray]) -> None:
    base, cand = pair
    ours = ssim(rgba(cand), rgba(base))
    ref = structural_similarity(rgb2gray(cand), rgb2gray(base), data_range=1.0)
    assert ours == pytest.approx(ref, abs=1e-3)
    assert ours < 0.99  # the pair really differs, so the comparison is not trivially 1 vs 1


def test_ssim_skipping_identical_rows_changes_nothing() -> None:
    base = photo_like(300, 200, seed=5)
    cand = base.copy()
    cand[90:100, 40:80] = 255
    a, b = rgba(cand), rgba(base)
    rows = (a != b).any(axis=(1, 2))
    ref = structural_similarity(rgb2gray(cand), rgb2gray(base), data_range=1.0)
    assert ssim(a, b, rows) == pytest.approx(ref, abs=1e-6)
    assert ssim(a, b, rows) == pytest.approx(ssim(a, b), abs=1e-6)
    assert ssim(b, b, np.zeros(200, dtype=bool)) == 1.0


def test_ciede2000_statistics_match_skimage(pair: tuple[np.ndarray, np.ndarray]) -> None:
    base, cand = pair
    ref = deltaE_ciede2000(rgb2lab(base), rgb2lab(cand))
    st = delta_e_stats(rgba(base), rgba(cand))
    assert st.mean == pytest.approx(ref.mean(), abs=1e-3)
    assert st.p95 == pytest.approx(np.percentile(ref, 95), abs=1e-3)
    assert st.max == pytest.approx(ref.max(), abs=1e-3)
    assert st.jnd_fraction == pytest.approx((ref > JND).mean(), abs=1e-4)


def test_ciede2000_per_pixel_on_random_colours() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (50_000, 4), dtype=np.uint8)
    y = rng.integers(0, 256, (50_000, 4), dtype=np.uint8)
    y[:500] = x[:500]  # identical
    y[500:1000, :3] = np.clip(x[500:1000, :3].astype(int) + 1, 0, 255)  # tiny differences
    ours = ciede2000(rgb_to_lab(x), rgb_to_lab(y))
    ref = deltaE_ciede2000(rgb2lab(x[None, :, :3])[0], rgb2lab(y[None, :, :3])[0])
    err = np.abs(ours - ref)
    # float32 everywhere; the rare exceptions are near-grey colours whose hue is rounding noise
    # in float64 too (the CIEDE2000 mean hue is undefined there).
    assert np.mean(err < 1e-3) > 0.999
    assert err.max() < 0.01
    assert np.all(ours[:500] == 0)


# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Color Res. Appl. 30(1), Table 1
# (ciede2000testdata): L1 a1 b1 L2 a2 b2 ΔE00, all 34 pairs. Published test data.
SHARMA_2005 = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ciede2000_sharma_2005_pairs(dtype: type) -> None:
    t = np.array([[float(v) for v in line.split()] for line in SHARMA_2005.strip().splitlines()], dtype=dtype)
    assert t.shape == (34, 7)
    lab1 = (t[:, 0], t[:, 1], t[:, 2])
    lab2 = (t[:, 3], t[:, 4], t[:, 5])
    for de in (ciede2000(lab1, lab2), ciede2000(lab2, lab1)):  # ΔE00 is symmetric
        err = np.abs(de.astype(np.float64) - t[:, 6].astype(np.float64))
        bad = {i + 1: (round(float(de[i]), 4), float(t[i, 6])) for i in np.flatnonzero(err > 1e-4)}
        assert not bad, f"pairs off by more than 1e-4 (pair: got, want): {bad}"
    # Pair 14 is exactly 180° apart in hue: no wrap of the mean hue (it was 4.7461, pair 15's value).
    assert float(ciede2000(lab1, lab2)[13]) == pytest.approx(4.8045, abs=1e-4)


def test_ciede2000_exactly_opposite_hues_take_the_no_wrap_branch() -> None:
    """(a, b) vs (−a, −b) is exactly 180° apart, where the rounded hues land either side of π (even
    scikit-image's float64 wraps ~5% of these). The formula's |Δh′| ≤ 180° branch is the limit from
    just under 180°, which float64 scikit-image computes unambiguously 1e-4 rad away."""
    rng = np.random.default_rng(11)
    n = 20_000
    big_l = rng.uniform(5, 95, n).astype(np.float32)
    a = rng.uniform(-60, 60, n).astype(np.float32)
    b = rng.uniform(-60, 60, n).astype(np.float32)
    for dtype in (np.float32, np.float64):
        lab1 = (big_l.astype(dtype), a.astype(dtype), b.astype(dtype))
        ours = ciede2000(lab1, (lab1[0], -lab1[1], -lab1[2]))
        # Turn the second colour by 1e-4 rad towards the first, so the pair is just under 180° apart.
        d = np.where(b > 0, -1e-4, 1e-4)
        x, y = -a.astype(np.float64), -b.astype(np.float64)
        near = np.stack([big_l, x * np.cos(d) - y * np.sin(d), x * np.sin(d) + y * np.cos(d)], -1)
        ref = deltaE_ciede2000(np.stack([big_l, a, b], -1).astype(np.float64), near)
        assert np.abs(ours - ref).max() < 0.02


def test_percentile_counts_identical_pixels_as_zero() -> None:
    base = np.full((100, 100, 4), 128, np.uint8)
    base[..., 3] = 255
    cand = base.copy()
    cand[:10, :, 0] = 200  # 10% of pixels differ strongly
    st = delta_e_stats(cand, base)
    ref = deltaE_ciede2000(rgb2lab(base[..., :3]), rgb2lab(cand[..., :3]))
    assert st.p95 == pytest.approx(np.percentile(ref, 95), abs=1e-3)
    assert st.p95 > 10
    assert st.mean == pytest.approx(ref.mean(), abs=1e-3)


def test_yiq_threshold_constants() -> None:
    black = np.zeros((1, 2, 4), np.uint8)
    black[..., 3] = 255
    white = black.copy()
    white[..., :3] = 255
    # Black vs white: only Y differs, by 255 → 0.5053 · 255² ≈ 32857 (35215 is the maximum over
    # all colour pairs, reached by saturated ones).
    assert over_threshold(white, black, 0.96).all()
    assert not over_threshold(white, black, 0.97).any()
    # Threshold 0.1 → 35215 · 0.01 = 352.15; a grey step of v gives 0.5053 · v².
    grey = black.copy()
    grey[..., :3] = 26  # 341.6
    assert not over_threshold(grey, black, 0.1).any()
    grey[..., :3] = 27  # 368.4
    assert over_threshold(grey, black, 0.1).all()
    assert MAX_YIQ_DELTA == 35215.0


def test_jpeg_reencode_barely_changes_yiq_but_flags_many_at_jnd() -> None:
    base = photo_like(480, 320, seed=11)
    cand = jpeg_q90(base)
    changed, _aa = changed_pixels(rgba(cand), rgba(base))
    st = delta_e_stats(rgba(cand), rgba(base))
    assert changed.mean() < 0.01  # the YIQ test: a re-encode is (almost) no change
    assert st.jnd_fraction > 0.05  # ΔE ≥ 2.3 as the test would flag a large share
    assert st.jnd_fraction > 10 * changed.mean()


def _antialiased_pair() -> tuple[np.ndarray, np.ndarray]:
    """A black diagonal edge on white, drawn with grey anti-aliasing, moved by a fraction."""
    h, w = 40, 40
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)

    def edge(offset: float) -> np.ndarray:
        cover = np.clip(xx - yy * 0.5 - 10 + offset, 0, 1)  # 0 → white, 1 → black, ramp at the edge
        v = (255 * (1 - cover)).round().astype(np.uint8)
        return rgba(np.repeat(v[..., None], 3, axis=2))

    return edge(0.0), edge(0.5)


def test_antialiased_edge_pixels_are_not_changes() -> None:
    a, b = _antialiased_pair()
    over = over_threshold(a, b, 0.1)
    changed, aa = changed_pixels(a, b, 0.1)
    assert over.sum() > 10
    assert aa.sum() > 0
    assert changed.sum() < over.sum()
    assert not (changed & aa).any()
    assert ((changed | aa) == over).all()


def test_real_change_is_not_antialiasing() -> None:
    base = np.full((50, 50, 4), 255, np.uint8)
    cand = base.copy()
    cand[10:20, 10:30, :3] = (200, 0, 0)
    changed, aa = changed_pixels(cand, base)
    assert changed.sum() == 200
    assert aa.sum() == 0


def test_bounding_boxes_of_clusters() -> None:
    mask = np.zeros((200, 300), bool)
    mask[10:20, 30:60] = True  # 300 px
    mask[100:150, 200:210] = True  # 500 px
    mask[101, 213] = True  # 3 px away: same cluster as the one above
    boxes, n = changed_boxes(mask)
    assert n == 2
    assert [b.to_dict() for b in boxes] == [
        {"x": 200, "y": 100, "width": 14, "height": 50, "pixels": 501},
        {"x": 30, "y": 10, "width": 30, "height": 10, "pixels": 300},
    ]
    assert changed_boxes(np.zeros((5, 5), bool)) == ([], 0)
