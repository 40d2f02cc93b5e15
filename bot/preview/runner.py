"""Runs the Preview gates over a bundle: decode each image, evaluate, collect a report.

This is CPU work; callers on the event loop run it in a worker thread or process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.artifacts.thumbnails import SheetItem, contact_sheet, diff_thumbnail, is_major
from bot.preview.images import ImageLoadError, decode_image, decode_pair, resolve_inside
from gates import registry
from gates.bundle import Bundle, BundleImage
from gates.policy import ImageBudgetConfig, PreviewGates
from gates.result import GateResult, Status, worst
from gates.subject import ImageFacts, ImageSubject, Pixels
from gates.visual.gate import VisualComparison, VisualDiffGate, resample

Progress = Callable[[int, int, str], None]
log = logging.getLogger(__name__)


@dataclass
class PreviewReport:
    results: list[GateResult]
    image_ids: list[str]
    findings: list[dict[str, Any]] = field(default_factory=list)
    # image id → diff thumbnail PNG path, and the release's contact sheet (with ``--thumbs``)
    thumbnails: dict[str, Path] = field(default_factory=dict)
    contact_sheet: Path | None = None

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
            entry: dict[str, Any] = {"id": image_id, "gates": gates}
            if image_id in self.thumbnails:
                entry["thumbnail"] = str(self.thumbnails[image_id])
            images.append(entry)
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
            **({"contact_sheet": str(self.contact_sheet)} if self.contact_sheet else {}),
        }

    def slack_uploads(self, max_inline: int = 5) -> list[dict[str, Any]]:
        """``files_upload_v2(file_uploads=…)`` entries for the release thread: the contact sheet,
        then thumbnails of major changes only (failed visual diffs, most changed first), so Slack
        shows what needs eyes and the rest stays in the report."""
        uploads: list[dict[str, Any]] = []
        if self.contact_sheet is not None:
            uploads.append(
                {
                    "file": str(self.contact_sheet),
                    "filename": "contact-sheet.png",
                    "title": f"Visual diff: {len(self.thumbnails)} images, worst first",
                }
            )
        major = [r for r in self.results if is_major(r) and r.image_id in self.thumbnails]
        major.sort(key=lambda r: -(r.measured or 0.0))
        for r in major[:max_inline]:
            assert r.image_id is not None
            uploads.append(
                {
                    "file": str(self.thumbnails[r.image_id]),
                    "filename": f"{r.image_id}.diff.png",
                    "title": f"{r.image_id}: {r.summary}",
                }
            )
        return uploads


def _max_pixels(gates: PreviewGates) -> int:
    return (gates.image_budget or ImageBudgetConfig()).max_pixels


@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back: no pixels, so results cross the process boundary cheaply."""

    subject: ImageSubject
    results: list[GateResult]
    thumbnail: Path | None = None
    changed_fraction: float | None = None


def _same_bytes(root: Path, a: str, b: str) -> bool:
    try:
        pa, pb = resolve_inside(root, a), resolve_inside(root, b)
        if pa.stat().st_size != pb.stat().st_size:
            return False
        return pa.read_bytes() == pb.read_bytes()
    except (ImageLoadError, OSError):
        return False


def _safe_name(image_id: str) -> str:
    return image_id.replace("/", "_")  # ids are validated, but never trust a path component


def _evaluate(
    root: Path, spec: BundleImage, gates: PreviewGates, thumbs_dir: Path | None, *, decode_together: bool = True
) -> _Outcome:
    """One image, never raising: a bug or resource failure on one image must not lose the
    report for the other hundreds, so it becomes an inconclusive result that names the image."""
    try:
        return _evaluate_unsafe(root, spec, gates, thumbs_dir, decode_together)
    except Exception as exc:  # reported in the result and logged with context
        log.exception("preview: evaluating image %s (%s) failed", spec.id, spec.candidate)
        facts = ImageFacts(path=spec.candidate, exists=True, error=f"{spec.candidate}: internal error ({exc!r})")
        result = GateResult(
            gate="preview",
            status=Status.INCONCLUSIVE,
            image_id=spec.id,
            summary=f"could not evaluate {spec.id}: {type(exc).__name__}: {exc} (see the logs)",
        )
        return _Outcome(ImageSubject(spec=spec, candidate=facts), [result])


def _evaluate_unsafe(
    root: Path, spec: BundleImage, gates: PreviewGates, thumbs_dir: Path | None, decode_together: bool
) -> _Outcome:
    limit = _max_pixels(gates)
    # Pixels only for a pair: no gate compares a new image with nothing.
    needs_pixels = registry.preview_needs_pixels(gates) and spec.baseline is not None
    base: ImageFacts | None = None
    bpx: Pixels | None = None
    if spec.baseline and not _same_bytes(root, spec.candidate, spec.baseline):
        if decode_together:
            (cand, cpx), (base, bpx) = decode_pair(root, spec.candidate, spec.baseline, limit, pixels=needs_pixels)
        else:
            cand, cpx = decode_image(root, spec.candidate, limit, pixels=needs_pixels)
            base, bpx = decode_image(root, spec.baseline, limit, pixels=needs_pixels)
    else:
        cand, cpx = decode_image(root, spec.candidate, limit, pixels=needs_pixels)
        if spec.baseline:
            # Unchanged files are common in a large release; one decode serves both (a file that
            # cannot be read is read again so that its error names the baseline path).
            if cand.usable:
                base, bpx = replace(cand, path=spec.baseline), cpx
            else:
                base, bpx = decode_image(root, spec.baseline, limit, pixels=needs_pixels)
    bare = ImageSubject(spec=spec, candidate=cand, baseline=base)
    full = ImageSubject(spec=spec, candidate=cand, baseline=base, candidate_pixels=cpx, baseline_pixels=bpx)
    results: list[GateResult] = []
    comparison: VisualComparison | None = None
    visual: GateResult | None = None
    for name, cfg in registry.enabled(gates):
        gate = registry.IMAGE_GATES.get(name)
        if gate is None:
            continue
        subject = full if gate.needs_pixels else bare
        if isinstance(gate, VisualDiffGate):
            visual, comparison = gate.evaluate_detailed(subject, cfg)
            results.append(visual)
        else:
            results.append(gate.evaluate(subject, cfg))
    thumb: Path | None = None
    if thumbs_dir is not None and cpx is not None and bpx is not None and visual is not None:
        if comparison is not None and cpx.shape != bpx.shape:
            cpx = resample(cpx, bpx.shape[1], bpx.shape[0])  # the comparison was made at this size
        thumb = thumbs_dir / f"{_safe_name(spec.id)}.diff.png"
        thumb.write_bytes(diff_thumbnail(bpx, cpx, comparison))
        results = [replace(r, evidence={**r.evidence, "thumbnail": str(thumb)}) if r is visual else r for r in results]
    changed = visual.values.get("changed_fraction") if visual is not None else None
    return _Outcome(bare, results, thumb, float(changed) if changed is not None else None)


def evaluate_one(
    root: Path, spec: BundleImage, gates: PreviewGates, *, thumbs_dir: Path | None = None
) -> tuple[ImageSubject, list[GateResult]]:
    """Decode and judge one image; returns the subject without pixels (to keep memory flat)."""
    out = _evaluate(root, spec, gates, thumbs_dir)
    return out.subject, out.results


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _pool(workers: int) -> ProcessPoolExecutor:
    # A single-threaded caller (the `gate preview` CLI) can fork: workers start in milliseconds
    # with everything imported. Forking a process that runs threads (the bot's event loop
    # offloads here) can deadlock, so the bot gets a forkserver, which imports numpy and Pillow
    # once so that each worker still starts warm.
    ctx: multiprocessing.context.BaseContext
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        ctx = multiprocessing.get_context("fork")
    elif "forkserver" in methods:
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload(["bot.preview.runner"])
        ctx = server
    else:
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def run_preview(
    root: Path,
    bundle: Bundle,
    gates: PreviewGates,
    *,
    progress: Progress | None = None,
    workers: int = 1,
    thumbs_dir: Path | None = None,
) -> PreviewReport:
    """Run every Preview gate over the bundle.

    ``workers`` > 1 spreads images over that many processes (CPU-bound work; threads would share
    one core under the GIL). ``thumbs_dir`` gets one diff thumbnail per compared image and a
    ``contact-sheet.png`` of them, worst first.
    """
    total = len(bundle.images)
    if thumbs_dir is not None:
        thumbs_dir.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, _Outcome] = {}
    workers = max(1, min(workers, total))
    if workers == 1:
        for i, spec in enumerate(bundle.images, start=1):
            outcomes[spec.id] = _evaluate(root, spec, gates, thumbs_dir)
            if progress:
                progress(i, total, spec.id)
    else:
        with _pool(workers) as pool:
            futures: dict[Future[_Outcome], str] = {
                # One process per core is busy already: a second decode thread would only contend.
                pool.submit(_evaluate, root, spec, gates, thumbs_dir, decode_together=False): spec.id
                for spec in bundle.images
            }
            for done, fut in enumerate(as_completed(futures), start=1):
                outcomes[futures[fut]] = fut.result()
                if progress:
                    progress(done, total, futures[fut])
    ordered = [outcomes[spec.id] for spec in bundle.images]
    results = [r for o in ordered for r in o.results]
    results.extend(registry.evaluate_release([o.subject for o in ordered], gates))
    report = PreviewReport(results=results, image_ids=[s.id for s in bundle.images])
    report.thumbnails = {o.subject.id: o.thumbnail for o in ordered if o.thumbnail is not None}
    if thumbs_dir is not None and report.thumbnails:
        items = [
            SheetItem(
                image_id=o.subject.id,
                png=o.thumbnail.read_bytes(),
                # the sheet is about pixels: rank by the visual verdict, not e.g. a byte budget
                status=next((r.status for r in o.results if r.gate == "visual_diff"), Status.PASS),
                changed_fraction=o.changed_fraction,
            )
            for o in ordered
            if o.thumbnail is not None
        ]
        png, _left_out = contact_sheet(items)
        report.contact_sheet = thumbs_dir / "contact-sheet.png"
        report.contact_sheet.write_bytes(png)
    return report
