"""Brand guardrails: dominant colours, near-miss brand colours (CIEDE2000), the logo area."""

from __future__ import annotations

import numpy as np
import pytest

from gates.brand import BrandGate, dominant_colors, hex_to_rgb, kmeans
from gates.bundle import BundleImage, LogoRegion
from gates.policy import BrandColor, BrandConfig
from gates.result import Status
from gates.subject import ImageFacts, ImageSubject, Pixels

BRAND_RED = BrandColor(name="brand red", hex="#E30613", tolerance=3.0)
BRAND_BLUE = BrandColor(name="brand blue", hex="#0057B8", tolerance=3.0)


def canvas(*bands: tuple[str, float], size: int = 100) -> Pixels:
    """Horizontal bands of colour; each (hex, share of height)."""
    px = np.zeros((size, size, 4), dtype=np.uint8)
    px[..., 3] = 255
    y = 0
    for hex_, share in bands:
        h = round(size * share)
        px[y : y + h, :, :3] = hex_to_rgb(hex_)
        y += h
    px[y:, :, :3] = 250
    return px


def subject(pixels: Pixels | None, logo: LogoRegion | None = None, logo_pixels: Pixels | None = None) -> ImageSubject:
    return ImageSubject(
        spec=BundleImage(id="hero", candidate="c.png", logo=logo),
        candidate=ImageFacts(path="c.png", exists=True),
        candidate_pixels=pixels,
        logo_pixels=logo_pixels,
    )


def config(**kw: object) -> BrandConfig:
    return BrandConfig(colors=[BRAND_RED, BRAND_BLUE], **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bands", "rules", "status"),
    [
        ([("#E30613", 0.5)], [], Status.PASS),  # exactly on brand
        ([("#E20714", 0.5)], [], Status.PASS),  # within tolerance (ΔE < 1)
        ([("#DC1E28", 0.5)], [("brand.near_miss_color", "critical")], Status.FAIL),  # ΔE ≈ 3.6, large area
        ([("#DC1E28", 0.08)], [("brand.near_miss_color", "warning")], Status.WARN),  # small area
        ([("#1E8C3C", 0.5)], [], Status.PASS),  # a green: far from any brand colour
        ([("#1A6ACC", 0.4), ("#E30613", 0.4)], [("brand.near_miss_color", "critical")], Status.FAIL),
        ([("#DC1E28", 0.02)], [], Status.PASS),  # below min_share: an accent, not dominant
    ],
)
def test_near_miss_colours(bands: list[tuple[str, float]], rules: list[tuple[str, str]], status: Status) -> None:
    r = BrandGate().evaluate(subject(canvas(*bands)), config())
    assert [(f.rule, f.severity) for f in r.findings] == rules
    assert r.status is status
    assert r.values["findings"] == len(rules)


def test_near_miss_finding_names_the_delta_e() -> None:
    r = BrandGate().evaluate(subject(canvas(("#DC1E28", 0.5))), config())
    f = r.findings[0]
    assert f.image_id == "hero" and "brand red" in f.message and "ΔE 3." in f.message
    near = r.evidence["near_misses"][0]
    assert near["brand"] == "brand red" and 3.0 < near["delta_e"] < 9.0


def test_max_critical_allows_some() -> None:
    r = BrandGate().evaluate(subject(canvas(("#DC1E28", 0.5))), config(max_critical=1))
    assert r.status is Status.WARN


def test_kmeans_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(500, 3))
    a = kmeans(pts, 4)
    b = kmeans(pts, 4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_dominant_colours_ignore_transparent_pixels() -> None:
    px = canvas(("#E30613", 0.3))
    px[30:, :, 3] = 0  # the rest is fully transparent
    colours = dominant_colors(px, 5, 0.05)
    assert len(colours) == 1 and colours[0].hex == "#e30613"


def test_dominant_colours_on_large_image_are_downsampled_and_ordered() -> None:
    px = canvas(("#0057B8", 0.7), ("#E30613", 0.2), size=1000)
    colours = dominant_colors(px, 5, 0.05)
    assert [c.hex for c in colours] == ["#0057b8", "#e30613", "#fafafa"]
    assert colours[0].share == pytest.approx(0.7, abs=0.02)


def test_without_pixels_is_inconclusive() -> None:
    assert BrandGate().evaluate(subject(None), config()).status is Status.INCONCLUSIVE


def logo_image() -> Pixels:
    rng = np.random.default_rng(7)
    # 8×8 blocks: a logo has shapes, not per-pixel noise, so rescaling keeps it recognisable.
    blocks = rng.integers(0, 255, size=(3, 4, 3), dtype=np.uint8)
    logo = np.zeros((24, 32, 4), dtype=np.uint8)
    logo[..., :3] = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    logo[..., 3] = 255
    return logo


LOGO = LogoRegion(x=10, y=20, width=32, height=24, reference="brand/logo.png")


def with_logo(logo: Pixels) -> Pixels:
    px = canvas(("#1E8C3C", 1.0))
    px[20:44, 10:42] = logo
    return px


def test_logo_area_matches() -> None:
    ref = logo_image()
    r = BrandGate().evaluate(subject(with_logo(ref), LOGO, ref), config())
    assert r.status is Status.PASS
    assert r.values["logo_ssim"] == pytest.approx(1.0) and r.values["logo_delta_e_mean"] == pytest.approx(0.0)


def test_logo_reference_is_scaled_to_the_area() -> None:
    ref = logo_image()
    big = np.repeat(np.repeat(ref, 2, axis=0), 2, axis=1)
    r = BrandGate().evaluate(subject(with_logo(ref), LOGO, big), config())
    assert not [f for f in r.findings if f.rule == "brand.logo_mismatch"]


@pytest.mark.parametrize("tamper", ["recolour", "replace"])
def test_logo_area_altered(tamper: str) -> None:
    ref = logo_image()
    shown = ref.copy()
    if tamper == "recolour":
        shown[..., 0] = np.clip(shown[..., 0].astype(int) + 60, 0, 255).astype(np.uint8)
    else:
        shown[..., :3] = 128
    r = BrandGate().evaluate(subject(with_logo(shown), LOGO, ref), config())
    assert [f.rule for f in r.findings] == ["brand.logo_mismatch"]
    assert r.status is Status.FAIL


def test_logo_region_outside_image() -> None:
    far = LogoRegion(x=90, y=90, width=32, height=24, reference="brand/logo.png")
    r = BrandGate().evaluate(subject(canvas(), far, logo_image()), config())
    assert [f.rule for f in r.findings] == ["brand.logo_region"]


def test_logo_without_reference_is_inconclusive() -> None:
    r = BrandGate().evaluate(subject(canvas(), LOGO, None), config())
    assert r.status is Status.INCONCLUSIVE and "brand/logo.png" in r.summary
