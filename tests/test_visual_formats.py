"""Decoding edge cases end to end: files written by Pillow, decoded by bot.preview.images, judged by
the visual_diff gate through the Preview runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.visual import photo_like
from bot.preview.images import decode_image
from bot.preview.runner import evaluate_one
from gates.bundle import BundleImage
from gates.policy import ImageBudgetConfig, PreviewGates, VisualDiffConfig
from gates.result import GateResult, Status

GATES = PreviewGates(visual_diff=VisualDiffConfig())


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return photo_like(160, 120, seed=9)


def visual(root: Path, cand: str, base: str, gates: PreviewGates = GATES) -> GateResult:
    spec = BundleImage(id="img", candidate=cand, baseline=base)
    _subject, results = evaluate_one(root, spec, gates)
    (r,) = [r for r in results if r.gate == "visual_diff"]
    return r


def save(im: Image.Image, root: Path, name: str, **kw: object) -> str:
    im.save(root / name, **kw)
    return name


def test_16_bit_png_matches_8_bit(tmp_path: Path) -> None:
    grey8 = np.tile(np.arange(0, 256, dtype=np.uint8), (32, 1))
    base = save(Image.fromarray(grey8, "L"), tmp_path, "b.png")
    cand = save(Image.fromarray(grey8.astype(np.uint16) * 257), tmp_path, "c16.png")
    assert Image.open(tmp_path / cand).mode.startswith("I")
    r = visual(tmp_path, cand, base)
    assert r.status is Status.PASS and r.values["identical"] is True


def test_dark_16_bit_png_is_not_mistaken_for_8_bit(tmp_path: Path) -> None:
    dark16 = np.tile(np.arange(0, 256, dtype=np.uint16), (32, 1))  # all ≤ 255 of 65535: near black
    cand = save(Image.fromarray(dark16), tmp_path, "dark16.png")
    black = save(Image.fromarray(np.zeros((32, 256), np.uint8), "L"), tmp_path, "black.png")
    r = visual(tmp_path, cand, black)
    assert r.values["changed_fraction"] == 0.0
    assert r.values["delta_e_max"] < 1.0


def test_palette_png(tmp_path: Path, picture: np.ndarray) -> None:
    flat = (picture // 64 * 64).astype(np.uint8)  # ≤ 64 colours: a palette holds them exactly
    base = save(Image.fromarray(flat), tmp_path, "b.png")
    pal = Image.fromarray(flat).quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    cand = save(pal, tmp_path, "p.png")
    assert Image.open(tmp_path / cand).mode == "P"
    r = visual(tmp_path, cand, base)
    assert r.values["identical"] is True


def test_cmyk_jpeg(tmp_path: Path, picture: np.ndarray) -> None:
    base = save(Image.fromarray(picture), tmp_path, "b.png")
    cand = save(Image.fromarray(picture).convert("CMYK"), tmp_path, "c.jpg", quality=95)
    facts, px = decode_image(tmp_path, cand, 10**7)
    assert facts.mode == "CMYK" and px is not None and px.shape == (120, 160, 4)
    r = visual(tmp_path, cand, base)
    assert r.values["changed_fraction"] < 0.02
    assert r.values["ssim"] > 0.9


def test_exif_orientation_is_applied(tmp_path: Path, picture: np.ndarray) -> None:
    base = save(Image.fromarray(picture), tmp_path, "b.png")
    stored = Image.fromarray(picture).transpose(Image.Transpose.ROTATE_90)  # shown upright by tag 6
    exif = Image.Exif()
    exif[0x0112] = 6
    cand = save(stored, tmp_path, "c.png", exif=exif)
    facts, _ = decode_image(tmp_path, cand, 10**7, pixels=False)
    assert (facts.width, facts.height, facts.exif_orientation) == (160, 120, 6)
    r = visual(tmp_path, cand, base)
    assert r.values["identical"] is True


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_first_frame_compared_and_flagged(tmp_path: Path, fmt: str) -> None:
    blocks = np.zeros((64, 64, 3), np.uint8)
    blocks[:32, :32] = (255, 0, 0)
    blocks[32:, 32:] = (0, 0, 255)
    first = Image.fromarray(blocks)
    second = Image.fromarray(255 - blocks)
    base = save(first, tmp_path, "b.png")
    kw: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    cand = save(
        first, tmp_path, f"anim.{fmt.lower()}", save_all=True, append_images=[second], duration=100, loop=0, **kw
    )
    r = visual(tmp_path, cand, base)
    assert r.status is Status.WARN
    assert r.values["frames"] == 2 and r.values["animated"] is True
    assert r.values["identical"] is True  # the first frame, not the second
    assert "animated (2 frames): only the first frame was compared" in r.summary


def test_avif_and_webp_candidates(tmp_path: Path, picture: np.ndarray) -> None:
    base = save(Image.fromarray(picture), tmp_path, "b.png")
    webp = save(Image.fromarray(picture), tmp_path, "c.webp", lossless=True)
    assert visual(tmp_path, webp, base).values["identical"] is True
    avif = save(Image.fromarray(picture), tmp_path, "c.avif", quality=90)
    facts, _ = decode_image(tmp_path, avif, 10**7, pixels=False)
    assert facts.format == "avif"
    r = visual(tmp_path, avif, base)
    assert r.values["identical"] is False
    assert r.values["changed_fraction"] < 0.05
    assert r.values["ssim"] > 0.8


def test_over_pixel_limit_refused_without_decoding(tmp_path: Path, picture: np.ndarray) -> None:
    base = save(Image.fromarray(picture), tmp_path, "b.png")
    cand = save(Image.fromarray(picture), tmp_path, "big.png")
    gates = PreviewGates(visual_diff=VisualDiffConfig(), image_budget=ImageBudgetConfig(max_pixels=10_000))
    r = visual(tmp_path, cand, base, gates)
    assert r.status is Status.FAIL
    assert "big.png" in r.summary and "19,200 pixels is over the 10,000 pixel limit" in r.summary


def test_truncated_file_names_the_file(tmp_path: Path, picture: np.ndarray) -> None:
    base = save(Image.fromarray(picture), tmp_path, "b.png")
    save(Image.fromarray(picture), tmp_path, "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    r = visual(tmp_path, "cut.png", base)
    assert r.status is Status.FAIL
    assert r.summary.startswith("cut.png: cannot decode")


def test_missing_baseline_file_fails(tmp_path: Path, picture: np.ndarray) -> None:
    cand = save(Image.fromarray(picture), tmp_path, "c.png")
    r = visual(tmp_path, cand, "nope.png")
    assert r.status is Status.FAIL and "nope.png" in r.summary


def test_a_pair_decoded_together_keeps_each_files_own_answer(tmp_path: Path, picture: np.ndarray) -> None:
    from bot.preview.images import decode_pair

    save(Image.fromarray(picture), tmp_path, "new.png")
    (tmp_path / "old.png").write_bytes((tmp_path / "new.png").read_bytes()[:200])  # truncated
    (cand, cpx), (base, bpx) = decode_pair(tmp_path, "new.png", "old.png", 10_000_000)
    assert cand.usable and cpx is not None and cpx.shape == (120, 160, 4)
    assert not base.usable and bpx is None and base.error and "old.png" in base.error
    # Through the runner: the broken baseline is named, not the candidate.
    r = visual(tmp_path, "new.png", "old.png")
    assert r.status is not Status.PASS and "old.png" in r.summary
