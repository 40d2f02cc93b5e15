"""The visual_diff gate's verdicts and its defined answers for awkward inputs (arrays in)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.visual import jpeg_q90, local_change, photo_like
from gates.bundle import BundleImage
from gates.policy import VisualDiffConfig
from gates.registry import IMAGE_GATES
from gates.result import Status
from gates.subject import ImageFacts, ImageSubject
from gates.visual.gate import VisualDiffGate

REQUIRED = {
    "changed_fraction",
    "ssim",
    "delta_e_p95",
    "delta_e_mean",
    "delta_e_max",
    "jnd_fraction",
    "aa_fraction",
    "boxes",
}


def rgba(rgb: np.ndarray, alpha: int = 255) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], alpha, np.uint8)])


def subject(cand: np.ndarray, base: np.ndarray | None, *, resize: bool = False, frames: int = 1) -> ImageSubject:
    spec = BundleImage(id="hero", candidate="c.png", baseline="b.png" if base is not None else None, resize=resize)
    ch, cw = cand.shape[:2]
    cf = ImageFacts(path="c.png", exists=True, width=cw, height=ch, format="png", frames=frames)
    bf = None
    if base is not None:
        bh, bw = base.shape[:2]
        bf = ImageFacts(path="b.png", exists=True, width=bw, height=bh, format="png")
    return ImageSubject(spec=spec, candidate=cf, baseline=bf, candidate_pixels=cand, baseline_pixels=base)


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return photo_like(400, 300, seed=2)


def test_registered_under_policy_key() -> None:
    assert isinstance(IMAGE_GATES["visual_diff"], VisualDiffGate)


def test_identical_pair_passes_with_zeros(base: np.ndarray) -> None:
    r = VisualDiffGate().evaluate(subject(rgba(base), rgba(base.copy())), VisualDiffConfig())
    assert r.status is Status.PASS
    assert set(r.values) >= REQUIRED
    assert r.values["changed_fraction"] == 0.0
    assert r.values["ssim"] == 1.0
    assert r.values["delta_e_p95"] == 0.0
    assert r.values["identical"] is True
    assert "identical" in r.summary


def test_local_change_is_measured_and_boxed(base: np.ndarray) -> None:
    before = base.copy()
    before[100:130, 200:240] = 230
    cand = before.copy()
    cand[100:130, 200:240] = 20  # a light 40×30 panel turned dark: 1% of a 400×300 frame
    r = VisualDiffGate().evaluate(subject(rgba(cand), rgba(before)), VisualDiffConfig())
    assert r.values["changed_fraction"] == pytest.approx(1200 / 120_000)
    assert r.status is Status.PASS  # under 2%, SSIM high, and p95 ΔE of the frame is 0
    assert r.values["delta_e_p95"] == 0.0
    assert r.values["changed_delta_e_p95"] > 20
    assert r.values["boxes"] == [{"x": 200, "y": 100, "width": 40, "height": 30, "pixels": 1200}]
    strict = VisualDiffConfig(max_changed_fraction=0.005)
    failed = VisualDiffGate().evaluate(subject(rgba(cand), rgba(before)), strict)
    assert failed.status is Status.FAIL
    assert "of pixels changed (max 0.50%)" in failed.summary


def test_jpeg_reencode_small_changed_fraction(base: np.ndarray) -> None:
    r = VisualDiffGate().evaluate(subject(rgba(jpeg_q90(base)), rgba(base)), VisualDiffConfig())
    assert r.values["changed_fraction"] < 0.01
    assert r.values["jnd_fraction"] > 10 * r.values["changed_fraction"]
    assert r.values["ssim"] > 0.9


def test_global_colour_cast_fails_on_delta_e_only(base: np.ndarray) -> None:
    cand = np.clip(base.astype(int) + np.array([6, 0, -6]), 0, 255).astype(np.uint8)
    r = VisualDiffGate().evaluate(subject(rgba(cand), rgba(base)), VisualDiffConfig())
    assert r.values["changed_fraction"] < 0.02
    assert r.values["ssim"] > 0.95
    assert r.values["delta_e_p95"] > 2.0
    assert r.status is Status.FAIL and "ΔE00 p95" in r.summary


def test_different_dimensions_fail_naming_both_sizes(base: np.ndarray) -> None:
    cand = base[:200, :300]
    r = VisualDiffGate().evaluate(subject(rgba(cand), rgba(base)), VisualDiffConfig())
    assert r.status is Status.FAIL
    assert "300×200" in r.summary and "400×300" in r.summary and "resize: true" in r.summary
    assert r.values["changed_fraction"] is None


def test_declared_resize_compares_after_lanczos(base: np.ndarray) -> None:
    from PIL import Image

    half = np.asarray(Image.fromarray(base).resize((200, 150), Image.Resampling.LANCZOS))
    r = VisualDiffGate().evaluate(subject(rgba(half), rgba(base), resize=True), VisualDiffConfig())
    assert r.values["resampled_from"] == [200, 150]
    assert r.values["width"] == 400 and r.values["height"] == 300
    assert "resampled 200×150 → 400×300 (Lanczos)" in r.summary
    assert r.values["changed_fraction"] < 0.05


def test_alpha_change_hidden_over_white_is_caught_over_black() -> None:
    base = np.zeros((60, 60, 4), np.uint8)  # fully transparent
    cand = base.copy()
    cand[10:30, 10:30] = (255, 255, 255, 255)  # opaque white: invisible on a white page
    r = VisualDiffGate().evaluate(subject(cand, base), VisualDiffConfig())
    assert r.values["backdrop"] == "black"
    assert r.values["changed_fraction"] == pytest.approx(400 / 3600)
    assert r.status is Status.FAIL
    assert "worse backdrop is black" in r.summary


def test_animated_candidate_flagged(base: np.ndarray) -> None:
    r = VisualDiffGate().evaluate(subject(rgba(base), rgba(base), frames=3), VisualDiffConfig())
    assert r.status is Status.WARN
    assert r.values["animated"] is True and r.values["frames"] == 3
    assert "animated (3 frames)" in r.summary


def test_new_image_without_baseline_passes(base: np.ndarray) -> None:
    r = VisualDiffGate().evaluate(subject(rgba(base), None), VisualDiffConfig())
    assert r.status is Status.PASS
    assert "no baseline" in r.summary
    assert set(r.values) >= REQUIRED


def test_unusable_file_fails_with_its_error(base: np.ndarray) -> None:
    s = subject(rgba(base), rgba(base))
    broken = ImageSubject(
        spec=s.spec,
        candidate=ImageFacts(path="c.png", exists=True, error="c.png: cannot decode (truncated)"),
        baseline=s.baseline,
    )
    r = VisualDiffGate().evaluate(broken, VisualDiffConfig())
    assert r.status is Status.FAIL and r.summary == "c.png: cannot decode (truncated)"


def test_threads_give_the_same_answer(base: np.ndarray) -> None:
    cand = rgba(jpeg_q90(local_change(base)))
    one = VisualDiffGate().evaluate(subject(cand, rgba(base)), VisualDiffConfig())
    two = VisualDiffGate(threads=2).evaluate(subject(cand, rgba(base)), VisualDiffConfig())
    assert one.values == two.values
