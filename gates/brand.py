"""Brand guardrails: dominant colours near, but not on, a brand colour; the logo area intact.

Generated and re-edited imagery drifts: a brand red comes back a few ΔE off, close enough that
nobody notices in review and far enough that it looks wrong next to the real one. We cluster the
image's colours in CIELAB (perceptually uniform, so cluster distances mean something), then compare
each dominant colour to every brand colour with CIEDE2000. Within ``tolerance`` is on-brand; within
``near_miss_factor × tolerance`` is a near miss and a finding; farther is simply another colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gates.policy import BrandColor, BrandConfig
from gates.result import Finding, GateResult, Status
from gates.sensitivity import severity_counts
from gates.subject import ImageSubject, Pixels

FloatArray = npt.NDArray[np.float64]

KMEANS_SEED = 20240601
_MAX_SAMPLES = 128 * 128
_ITERATIONS = 25
# Pixels this transparent do not show, so they are not part of any colour anyone sees.
_MIN_ALPHA = 128


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    v = value.lstrip("#")
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)


def rgb_to_hex(rgb: Sequence[float]) -> str:
    r, g, b = (round(min(255.0, max(0.0, c))) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def to_lab(rgb: npt.NDArray[Any]) -> FloatArray:
    """sRGB uint8 (…, 3) → CIELAB (D65)."""
    from skimage.color import rgb2lab  # imported here: scikit-image costs ~0.3 s, and Preview never needs it

    return np.asarray(rgb2lab(np.asarray(rgb, dtype=np.float64) / 255.0), dtype=np.float64)


def lab_to_rgb(lab: FloatArray) -> FloatArray:
    from skimage.color import lab2rgb

    return np.asarray(lab2rgb(lab.reshape(1, -1, 3)), dtype=np.float64).reshape(-1, 3) * 255.0


def delta_e(lab1: FloatArray, lab2: FloatArray) -> FloatArray:
    from skimage.color import deltaE_ciede2000

    return np.asarray(deltaE_ciede2000(lab1, lab2), dtype=np.float64)  # type: ignore[no-untyped-call]


def _sample(pixels: Pixels) -> npt.NDArray[np.uint8]:
    """Opaque RGB pixels on a regular grid of at most ~16k points (deterministic downsample)."""
    h, w = pixels.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_SAMPLES))))
    grid = pixels[::step, ::step].reshape(-1, pixels.shape[2])
    if grid.shape[1] == 4:
        grid = grid[grid[:, 3] >= _MIN_ALPHA]
    return np.ascontiguousarray(grid[:, :3])


def kmeans(points: FloatArray, k: int, seed: int = KMEANS_SEED) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Lloyd's k-means with k-means++ seeding; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    n = len(points)
    k = max(1, min(k, len(np.unique(points.round(3), axis=0))))
    centres = np.empty((k, points.shape[1]), dtype=np.float64)
    centres[0] = points[rng.integers(n)]
    d2 = np.sum((points - centres[0]) ** 2, axis=1)
    for i in range(1, k):
        total = float(d2.sum())
        idx = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres[i] = points[idx]
        d2 = np.minimum(d2, np.sum((points - centres[i]) ** 2, axis=1))
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(_ITERATIONS):
        dist = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        new_labels = dist.argmin(axis=1).astype(np.int64)
        for j in range(k):
            members = points[new_labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centres, labels


@dataclass(frozen=True)
class DominantColor:
    lab: tuple[float, float, float]
    hex: str
    share: float


def dominant_colors(pixels: Pixels, k: int, min_share: float) -> list[DominantColor]:
    """The image's main colours, largest share first; clusters below ``min_share`` are dropped."""
    rgb = _sample(pixels)
    if len(rgb) == 0:
        return []
    lab = to_lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    centres, labels = kmeans(lab, k)
    counts = np.bincount(labels, minlength=len(centres))
    rgb_centres = lab_to_rgb(centres)
    out = [
        DominantColor(
            lab=(float(c[0]), float(c[1]), float(c[2])),
            hex=rgb_to_hex(rgb_c),
            share=float(n) / len(labels),
        )
        for c, rgb_c, n in zip(centres, rgb_centres, counts, strict=True)
        if n and n / len(labels) >= min_share
    ]
    return sorted(out, key=lambda d: -d.share)


@dataclass(frozen=True)
class ColorMatch:
    color: DominantColor
    brand: BrandColor
    delta_e: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "color": self.color.hex,
            "share": round(self.color.share, 4),
            "brand": self.brand.name,
            "brand_hex": "#" + self.brand.hex.lstrip("#").lower(),
            "delta_e": round(self.delta_e, 2),
            "tolerance": self.brand.tolerance,
        }


def classify(
    colors: Sequence[DominantColor], brand: Sequence[BrandColor], near_miss_factor: float
) -> tuple[list[ColorMatch], list[ColorMatch]]:
    """(on-brand matches, near misses). A colour on one brand colour is not a near miss of another."""
    if not colors or not brand:
        return [], []
    brand_lab = to_lab(np.array([[hex_to_rgb(b.hex)] for b in brand], dtype=np.uint8)).reshape(-1, 3)
    on: list[ColorMatch] = []
    near: list[ColorMatch] = []
    for c in colors:
        de = delta_e(np.repeat(np.array([c.lab]), len(brand), axis=0), brand_lab)
        matches = [ColorMatch(c, b, float(d)) for b, d in zip(brand, de, strict=True)]
        hits = [m for m in matches if m.delta_e <= m.brand.tolerance]
        if hits:
            on.append(min(hits, key=lambda m: m.delta_e))
            continue
        misses = [m for m in matches if m.delta_e <= m.brand.tolerance * near_miss_factor]
        if misses:
            near.append(min(misses, key=lambda m: m.delta_e))
    return on, near


@dataclass(frozen=True)
class LogoCheck:
    delta_e_mean: float
    delta_e_p95: float
    ssim: float


def _win_size(h: int, w: int) -> int:
    side = min(7, h, w)
    return side if side % 2 == 1 else side - 1


def compare_logo(region: Pixels, reference: Pixels) -> LogoCheck:
    """ΔE and SSIM between the image's logo area and the approved logo, scaled to the area."""
    from skimage.metrics import structural_similarity
    from skimage.transform import resize

    h, w = region.shape[:2]
    ref = reference
    if ref.shape[:2] != (h, w):
        scaled = resize(  # type: ignore[no-untyped-call]
            ref.astype(np.float64) / 255.0, (h, w, ref.shape[2]), order=1, anti_aliasing=True
        )
        ref = np.clip(np.asarray(scaled) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    reg_rgb = region[..., :3].astype(np.float64)
    ref_rgb = ref[..., :3].astype(np.float64)
    if ref.shape[2] == 4:
        # Transparent parts of the approved logo show whatever is behind it in the image.
        a = ref[..., 3:4].astype(np.float64) / 255.0
        ref_rgb = ref_rgb * a + reg_rgb * (1 - a)
    de = delta_e(to_lab(reg_rgb.astype(np.uint8)), to_lab(np.clip(ref_rgb + 0.5, 0, 255).astype(np.uint8)))
    win = _win_size(h, w)
    if win < 3:
        ssim = 1.0 if float(np.abs(reg_rgb - ref_rgb).max()) < 1 else 0.0
    else:
        gray_reg = reg_rgb @ np.array([0.299, 0.587, 0.114]) / 255.0
        gray_ref = ref_rgb @ np.array([0.299, 0.587, 0.114]) / 255.0
        ssim = float(
            structural_similarity(gray_reg, gray_ref, win_size=win, data_range=1.0)  # type: ignore[no-untyped-call]
        )
    return LogoCheck(float(de.mean()), float(np.percentile(de, 95)), ssim)


class BrandGate:
    name = "brand"
    needs_pixels = True

    def evaluate(self, subject: ImageSubject, config: BrandConfig) -> GateResult:
        pixels = subject.candidate_pixels
        if pixels is None:
            return GateResult(
                gate=self.name,
                status=Status.INCONCLUSIVE,
                summary="candidate pixels were not loaded; brand colours cannot be checked",
                image_id=subject.id,
                values={"findings": 0, "info": 0, "warning": 0, "critical": 0},
            )
        colors = dominant_colors(pixels, config.dominant_colors, config.min_share)
        on, near = classify(colors, config.colors, config.near_miss_factor)
        findings: list[Finding] = []
        for m in near:
            severity = "critical" if m.color.share >= config.critical_share else "warning"
            findings.append(
                Finding(
                    rule="brand.near_miss_color",
                    severity=severity,
                    message=(
                        f"dominant colour {m.color.hex} ({m.color.share:.0%} of the image) is ΔE {m.delta_e:.1f}"
                        f" from brand colour {m.brand.name} (#{m.brand.hex.lstrip('#').lower()}), outside its"
                        f" tolerance of {m.brand.tolerance:g}: it reads as the brand colour but is off."
                        f" Use the exact brand value"
                    ),
                    image_id=subject.id,
                    field="pixels",
                    context=f"{m.color.hex} vs {m.brand.name} #{m.brand.hex.lstrip('#').lower()}, ΔE {m.delta_e:.1f}",
                )
            )
        logo_values: dict[str, Any] = {}
        inconclusive: str | None = None
        logo = subject.spec.logo
        if logo is not None:
            h, w = pixels.shape[:2]
            if subject.logo_pixels is None:
                inconclusive = f"logo reference {logo.reference} was not loaded; logo area not checked"
            elif logo.x + logo.width > w or logo.y + logo.height > h:
                findings.append(
                    Finding(
                        rule="brand.logo_region",
                        severity="critical",
                        message=(
                            f"declared logo area {logo.width}×{logo.height} at ({logo.x}, {logo.y}) does not fit"
                            f" in the {w}×{h} image"
                        ),
                        image_id=subject.id,
                        field="logo",
                    )
                )
            else:
                region = pixels[logo.y : logo.y + logo.height, logo.x : logo.x + logo.width]
                check = compare_logo(region, subject.logo_pixels)
                logo_values = {
                    "logo_delta_e_mean": round(check.delta_e_mean, 3),
                    "logo_delta_e_p95": round(check.delta_e_p95, 3),
                    "logo_ssim": round(check.ssim, 4),
                }
                problems = []
                if check.delta_e_mean > config.logo_max_delta_e:
                    problems.append(f"mean ΔE {check.delta_e_mean:.1f} > {config.logo_max_delta_e:g}")
                if check.ssim < config.logo_min_ssim:
                    problems.append(f"SSIM {check.ssim:.3f} < {config.logo_min_ssim:g}")
                if problems:
                    findings.append(
                        Finding(
                            rule="brand.logo_mismatch",
                            severity="critical",
                            message=(
                                "logo area does not match the approved logo ("
                                + "; ".join(problems)
                                + "); it was altered, recoloured or moved"
                            ),
                            image_id=subject.id,
                            field="logo",
                            context=f"area {logo.width}×{logo.height} at ({logo.x}, {logo.y}) vs {logo.reference}",
                        )
                    )
        per_severity = severity_counts(findings)
        if per_severity["critical"] > config.max_critical:
            status = Status.FAIL
        elif inconclusive:
            status = Status.INCONCLUSIVE
        elif findings:
            status = Status.WARN
        else:
            status = Status.PASS
        if findings:
            summary = "; ".join(f.message.split(":")[0] for f in findings[:2]) + (
                f" (+{len(findings) - 2} more)" if len(findings) > 2 else ""
            )
        elif inconclusive:
            summary = inconclusive
        elif not config.colors:
            summary = "no brand colours configured; dominant colours recorded"
        else:
            summary = f"{len(on)} dominant colour(s) on brand, no near misses"
        worst_near = min((m.delta_e for m in near), default=None)
        return GateResult(
            gate=self.name,
            status=status,
            summary=summary,
            image_id=subject.id,
            measured=float(per_severity["critical"]),
            threshold=float(config.max_critical),
            unit="critical findings",
            values={
                "findings": len(findings),
                **per_severity,
                "near_misses": len(near),
                "on_brand": len(on),
                "closest_near_miss_delta_e": round(worst_near, 2) if worst_near is not None else None,
                **logo_values,
            },
            evidence={
                "dominant_colors": [
                    {"hex": c.hex, "share": round(c.share, 4), "lab": [round(v, 2) for v in c.lab]} for c in colors
                ],
                "on_brand": [m.to_dict() for m in on],
                "near_misses": [m.to_dict() for m in near],
                "seed": KMEANS_SEED,
                "inconclusive": inconclusive,
            },
            findings=tuple(findings),
        )
