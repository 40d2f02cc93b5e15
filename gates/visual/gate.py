"""The ``visual_diff`` Preview gate: how much a candidate differs from its baseline.

Three measures, each gated by the policy (``VisualDiffConfig``):

* ``changed_fraction`` — share of pixels failing the YIQ test (``yiq.py``), anti-aliased
  pixels excluded and reported as ``aa_fraction``. Gate: ``≤ max_changed_fraction``.
* ``ssim`` — grayscale SSIM, 7×7 uniform window (``ssim.py``). Gate: ``≥ min_ssim``.
* ``delta_e_p95`` — 95th percentile of CIEDE2000 over the whole frame (``ciede2000.py``).
  Gate: ``≤ max_delta_e_p95``. Over the whole frame, not just the changed pixels, because this
  measure is there to catch what the other two miss — a global colour cast, a dropped ICC
  profile — while a local edit is the changed fraction's job: pixels the YIQ test flags differ
  strongly by construction, so a percentile over them alone would fail every visible edit
  however small. The ΔE over the changed pixels is reported too (``changed_delta_e_*``).
  ΔE ≥ 2.3 is deliberately not the per-pixel "changed" test: a JPEG q90 re-encode alone pushes
  a large share of pixels over it (see ``jnd_fraction``).

Defined answers for awkward inputs:

* no baseline — a new image; passes, nothing to compare.
* different dimensions — fails naming both sizes, unless the bundle declares ``resize: true``;
  then the candidate is resampled to the baseline's size with Lanczos (a=3, Pillow, alpha
  premultiplied) and compared, and the summary says so.
* transparency in either image — both are composited over white and over black and the worse
  of the two comparisons is reported (``backdrop``), so a change hidden on one page colour still
  shows.
* animated candidate — the first frame is compared and the summary flags it (status warn at best).
* identical pixels — answered from one 32-bit comparison per pixel without any float work.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from gates.policy import VisualDiffConfig
from gates.result import GateResult, Status
from gates.subject import ImageFacts, ImageSubject, Pixels
from gates.visual.ciede2000 import DeltaEStats, combine, delta_e_part
from gates.visual.clusters import Box, changed_boxes
from gates.visual.ssim import WIN, ssim
from gates.visual.yiq import changed_pixels

BoolMask = npt.NDArray[np.bool_]
_BACKDROPS = {"white": 255, "black": 0}


@dataclass(frozen=True)
class VisualComparison:
    """Everything measured for one pair, including the masks the thumbnail draws."""

    width: int
    height: int
    changed: BoolMask
    antialiased: BoolMask
    changed_fraction: float
    aa_fraction: float
    ssim: float
    delta_e: DeltaEStats
    boxes: tuple[Box, ...]
    clusters: int
    identical: bool
    backdrop: str | None = None

    def values(self) -> dict[str, Any]:
        de = self.delta_e
        return {
            "changed_fraction": round(self.changed_fraction, 6),
            "ssim": round(self.ssim, 6),
            "delta_e_p95": round(de.p95, 4),
            "delta_e_mean": round(de.mean, 4),
            "delta_e_max": round(de.max, 4),
            "jnd_fraction": round(de.jnd_fraction, 6),
            "aa_fraction": round(self.aa_fraction, 6),
            "changed_delta_e_mean": None if de.changed_mean is None else round(de.changed_mean, 4),
            "changed_delta_e_p95": None if de.changed_p95 is None else round(de.changed_p95, 4),
            "boxes": [b.to_dict() for b in self.boxes],
            "clusters": self.clusters,
            "width": self.width,
            "height": self.height,
            "identical": self.identical,
            "backdrop": self.backdrop,
        }


def _packed(px: Pixels) -> npt.NDArray[np.uint32]:
    arr: npt.NDArray[np.uint32] = np.ascontiguousarray(px).view(np.uint32)[..., 0]
    return arr


def _identical(width: int, height: int, backdrop: str | None = None) -> VisualComparison:
    empty = np.zeros((height, width), dtype=np.bool_)
    return VisualComparison(
        width=width,
        height=height,
        changed=empty,
        antialiased=empty,
        changed_fraction=0.0,
        aa_fraction=0.0,
        ssim=1.0,
        delta_e=DeltaEStats(0.0, 0.0, 0.0, 0.0, None, None),
        boxes=(),
        clusters=0,
        identical=True,
        backdrop=backdrop,
    )


def _global_ssim(a: Pixels, b: Pixels) -> float:
    """One window over the whole image, for images smaller than the SSIM window."""
    w = np.array([0.2125, 0.7154, 0.0721])
    x = a[..., :3].astype(np.float64) @ w
    y = b[..., :3].astype(np.float64) @ w
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return float((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (x.var() + y.var() + c2)))


def compare_opaque(
    a: Pixels, b: Pixels, threshold: float = 0.1, backdrop: str | None = None, threads: int = 1
) -> VisualComparison:
    """Compare two same-sized RGBA images whose alpha is ignored (already composited).

    ``threads`` > 1 computes ΔE slices on that many threads while this one does SSIM; numpy
    releases the GIL inside its loops. Leave it at 1 when images already run one per core.
    """
    h, w = a.shape[:2]
    differ = _packed(a) != _packed(b)
    if not differ.any():
        return _identical(w, h, backdrop)
    rows = differ.any(axis=1)
    changed, aa = changed_pixels(a, b, threshold, rows)
    total = h * w
    with ThreadPoolExecutor(max_workers=threads) if threads > 1 else nullcontext() as pool:
        if pool is None:
            de_parts = [delta_e_part(a, b, changed, differ)]
        else:
            futures = [pool.submit(delta_e_part, a, b, changed, differ, k, threads) for k in range(threads)]
        similarity = ssim(a, b, rows) if h >= WIN and w >= WIN else _global_ssim(a, b)
        boxes, clusters = changed_boxes(changed)
        if pool is not None:
            de_parts = [f.result() for f in futures]
    return VisualComparison(
        width=w,
        height=h,
        changed=changed,
        antialiased=aa,
        changed_fraction=int(np.count_nonzero(changed)) / total,
        aa_fraction=int(np.count_nonzero(aa)) / total,
        ssim=similarity,
        delta_e=combine(total, de_parts),
        boxes=tuple(boxes),
        clusters=clusters,
        identical=False,
        backdrop=backdrop,
    )


def composite(px: Pixels, backdrop: int) -> Pixels:
    """Alpha-composite over a flat grey level (0 black … 255 white); the result is opaque."""
    alpha = px[..., 3:4].astype(np.uint16)
    out = px[..., :3].astype(np.uint16) * alpha
    out += np.uint16(backdrop) * (np.uint16(255) - alpha)
    out += np.uint16(127)
    out //= np.uint16(255)
    result = np.empty(px.shape, dtype=np.uint8)
    result[..., :3] = out
    result[..., 3] = 255
    return result


def has_transparency(px: Pixels) -> bool:
    return bool((px[..., 3] != 255).any())


def _failures(c: VisualComparison, config: VisualDiffConfig) -> list[str]:
    out: list[str] = []
    if c.changed_fraction > config.max_changed_fraction:
        out.append(f"{c.changed_fraction:.2%} of pixels changed (max {config.max_changed_fraction:.2%})")
    if c.ssim < config.min_ssim:
        out.append(f"SSIM {c.ssim:.4f} (min {config.min_ssim:.4f})")
    if c.delta_e.p95 > config.max_delta_e_p95:
        out.append(f"ΔE00 p95 {c.delta_e.p95:.2f} (max {config.max_delta_e_p95:.2f})")
    return out


def _badness(c: VisualComparison, config: VisualDiffConfig) -> tuple[int, float, float, float]:
    return (len(_failures(c, config)), c.changed_fraction, -c.ssim, c.delta_e.p95)


def compare_pixels(candidate: Pixels, baseline: Pixels, config: VisualDiffConfig, threads: int = 1) -> VisualComparison:
    """Compare same-sized RGBA images; with transparency, the worse of white and black backdrops."""
    h, w = baseline.shape[:2]
    if np.array_equal(_packed(candidate), _packed(baseline)):
        return _identical(w, h)
    if not (has_transparency(candidate) or has_transparency(baseline)):
        return compare_opaque(candidate, baseline, config.yiq_threshold, threads=threads)
    results = [
        compare_opaque(composite(candidate, level), composite(baseline, level), config.yiq_threshold, name, threads)
        for name, level in _BACKDROPS.items()
    ]
    return max(results, key=lambda c: _badness(c, config))


def resample(px: Pixels, width: int, height: int) -> Pixels:
    """Lanczos (a=3) resample; Pillow premultiplies alpha for RGBA so edges do not darken."""
    im = Image.fromarray(px, "RGBA").resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8).copy()


def _problem(role: str, facts: ImageFacts) -> str | None:
    if not facts.exists:
        return facts.error or f"{role} file {facts.path} is missing"
    return facts.error


_EMPTY_VALUES: dict[str, Any] = {
    "changed_fraction": None,
    "ssim": None,
    "delta_e_p95": None,
    "delta_e_mean": None,
    "delta_e_max": None,
    "jnd_fraction": None,
    "aa_fraction": None,
    "boxes": [],
}


class VisualDiffGate:
    name = "visual_diff"
    needs_pixels = True

    def __init__(self, threads: int = 1) -> None:
        # Threads within one comparison; a runner that spreads images over processes keeps 1.
        self.threads = threads

    def evaluate(self, subject: ImageSubject, config: VisualDiffConfig) -> GateResult:
        return self.evaluate_detailed(subject, config)[0]

    def evaluate_detailed(
        self, subject: ImageSubject, config: VisualDiffConfig
    ) -> tuple[GateResult, VisualComparison | None]:
        """The gate result plus the comparison (masks included) when one was made."""
        cand, base = subject.candidate, subject.baseline
        frames = cand.frames
        animated = frames > 1

        def result(
            status: Status,
            summary: str,
            values: dict[str, Any] | None = None,
            comparison: VisualComparison | None = None,
        ) -> tuple[GateResult, VisualComparison | None]:
            vals = dict(_EMPTY_VALUES)
            vals.update(values or {})
            vals["animated"] = animated
            vals["frames"] = frames
            measured = vals.get("changed_fraction")
            return (
                GateResult(
                    gate=self.name,
                    status=status,
                    summary=summary,
                    image_id=subject.id,
                    measured=float(measured) if measured is not None else None,
                    threshold=config.max_changed_fraction,
                    unit="fraction",
                    values=vals,
                    evidence={
                        "candidate": cand.to_dict(),
                        "baseline": base.to_dict() if base else None,
                        "config": config.model_dump(),
                        "ssim_window": "7x7 uniform, sample covariance, Rec.709 gray (skimage defaults)",
                    },
                ),
                comparison,
            )

        problem = _problem("candidate", cand)
        if problem:
            return result(Status.FAIL, problem)
        if base is None:
            return result(Status.PASS, "new image: no baseline to compare against")
        problem = _problem("baseline", base)
        if problem:
            return result(Status.FAIL, problem)
        cpx, bpx = subject.candidate_pixels, subject.baseline_pixels
        if cpx is None or bpx is None:
            return result(Status.INCONCLUSIVE, "pixels were not decoded, so nothing was compared")

        notes: list[str] = []
        extra: dict[str, Any] = {"resampled_from": None}
        (ch, cw), (bh, bw) = cpx.shape[:2], bpx.shape[:2]
        if (ch, cw) != (bh, bw):
            if not subject.spec.resize:
                return result(
                    Status.FAIL,
                    f"candidate is {cw}×{ch} but baseline is {bw}×{bh}; "
                    "declare resize: true for this image in release.yml to compare after resampling",
                    {"candidate_size": [cw, ch], "baseline_size": [bw, bh]},
                )
            if abs(cw / ch - bw / bh) > 0.01 * (bw / bh):
                notes.append("aspect ratio differs, so the candidate is stretched")
            notes.append(f"candidate resampled {cw}×{ch} → {bw}×{bh} (Lanczos)")
            extra["resampled_from"] = [cw, ch]
            cpx = resample(cpx, bw, bh)
        if animated:
            notes.append(f"animated ({frames} frames): only the first frame was compared")

        comp = compare_pixels(cpx, bpx, config, self.threads)
        values = {**comp.values(), **extra}
        failures = _failures(comp, config)
        if comp.backdrop:
            notes.append(f"transparent: worse backdrop is {comp.backdrop}")
        suffix = ("; " + "; ".join(notes)) if notes else ""
        if failures:
            return result(Status.FAIL, "; ".join(failures) + suffix, values, comp)
        if comp.identical:
            head = "pixel-identical to the baseline"
        else:
            head = (
                f"{comp.changed_fraction:.2%} changed, SSIM {comp.ssim:.4f}, "
                f"ΔE00 p95 {comp.delta_e.p95:.2f} — within limits"
            )
        return result(Status.WARN if animated else Status.PASS, head + suffix, values, comp)
