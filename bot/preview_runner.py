"""Runs the Preview gates over a bundle: decode each image, evaluate, collect a report.

This is CPU work; callers on the event loop run it in a worker thread or process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.images import ImageLoadError, inspect_image, load_rgba
from gates import registry
from gates.bundle import Bundle, BundleImage
from gates.policy import ImageBudgetConfig, PreviewGates
from gates.result import GateResult, Status, worst
from gates.subject import ImageSubject

Progress = Callable[[int, int, str], None]


@dataclass
class PreviewReport:
    results: list[GateResult]
    image_ids: list[str]
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return worst(r.status for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The ``gate preview --json`` contract from DESIGN.md."""
        images = []
        for image_id in self.image_ids:
            gates: dict[str, Any] = {}
            for r in self.results:
                if r.image_id == image_id:
                    gates[r.gate] = {"status": r.status.value, "summary": r.summary, **dict(r.values)}
            images.append({"id": image_id, "gates": gates})
        release_gates = {
            r.gate: {"status": r.status.value, "summary": r.summary, **dict(r.values)}
            for r in self.results
            if r.image_id is None
        }
        findings = [f.to_dict() for r in self.results for f in r.findings]
        return {
            "status": "pass" if self.status in (Status.PASS, Status.WARN) else "fail",
            "images": images,
            "release_gates": release_gates,
            "findings": findings,
        }


def _max_pixels(gates: PreviewGates) -> int:
    return (gates.image_budget or ImageBudgetConfig()).max_pixels


def evaluate_one(root: Path, spec: BundleImage, gates: PreviewGates) -> tuple[ImageSubject, list[GateResult]]:
    """Decode and judge one image; returns the subject without pixels (to keep memory flat)."""
    limit = _max_pixels(gates)
    cand = inspect_image(root, spec.candidate, limit)
    base = inspect_image(root, spec.baseline, limit) if spec.baseline else None
    subject = ImageSubject(spec=spec, candidate=cand, baseline=base)
    if registry.preview_needs_pixels(gates) and cand.usable and base is not None and base.usable:
        try:
            with_pixels = ImageSubject(
                spec=spec,
                candidate=cand,
                baseline=base,
                candidate_pixels=load_rgba(root, spec.candidate, limit),
                baseline_pixels=load_rgba(root, spec.baseline or "", limit),
            )
            return subject, registry.evaluate_image(with_pixels, gates)
        except ImageLoadError:
            pass  # inspect_image already recorded a readable error; gates report it
    return subject, registry.evaluate_image(subject, gates)


def run_preview(
    root: Path,
    bundle: Bundle,
    gates: PreviewGates,
    *,
    progress: Progress | None = None,
) -> PreviewReport:
    results: list[GateResult] = []
    subjects: list[ImageSubject] = []
    total = len(bundle.images)
    for i, spec in enumerate(bundle.images, start=1):
        subject, image_results = evaluate_one(root, spec, gates)
        subjects.append(subject)
        results.extend(image_results)
        if progress:
            progress(i, total, spec.id)
    results.extend(registry.evaluate_release(subjects, gates))
    return PreviewReport(results=results, image_ids=[s.id for s in bundle.images])
