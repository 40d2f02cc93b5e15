"""Metadata alignment: what the file says about itself, against the baseline and the bundle.

Widths and heights in :class:`ImageFacts` already have the EXIF orientation applied, so a
portrait photo stored sideways with orientation 6 compares as portrait here, as browsers show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gates.policy import MetadataConfig
from gates.result import Finding, GateResult, Status
from gates.sensitivity import counted, severity_counts
from gates.subject import ImageFacts, ImageSubject

# Text fields that name a person (photographer, camera owner); Copyright is a legal notice, not a leak.
PERSONAL_TEXT_FIELDS = frozenset({"Artist", "XPAuthor", "xmp:dc:creator", "iptc:by-line", "iptc:contact", "png:Author"})
# Flags from the loader that identify a device or place.
PERSONAL_FLAGS: Mapping[str, str] = {
    "camera_serial": "camera body serial number",
    "lens_serial": "lens serial number",
    "camera_owner": "camera owner name",
    "maker_note": "maker notes (vendor data that can include serial numbers)",
}
_ORIENTATION_NAMES = {
    2: "mirrored",
    3: "rotated 180°",
    4: "mirrored vertically",
    5: "mirrored and rotated 90°",
    6: "rotated 90° clockwise",
    7: "mirrored and rotated 270°",
    8: "rotated 90° counter-clockwise",
}


def _ratio(facts: ImageFacts) -> float | None:
    if facts.width and facts.height:
        return facts.width / facts.height
    return None


def _is_srgb(name: str) -> bool:
    folded = name.casefold().replace(" ", "").replace("-", "")
    return "srgb" in folded or "iec6196621" in folded


def check_metadata(subject: ImageSubject, config: MetadataConfig) -> list[Finding]:
    spec = subject.spec
    cand = subject.candidate
    out: list[Finding] = []

    def finding(rule: str, severity: str, message: str, field: str, context: str | None = None) -> Finding:
        return Finding(
            rule=f"metadata.{rule}",
            severity=severity,
            message=message,
            image_id=spec.id,
            field=field,
            context=context,
        )

    base = subject.baseline
    if base is not None and base.usable and not spec.crop:
        rc, rb = _ratio(cand), _ratio(base)
        if rc is not None and rb is not None and abs(rc / rb - 1) > config.aspect_tolerance:
            out.append(
                finding(
                    "aspect_ratio",
                    "warning",
                    f"aspect ratio changed from {base.width}×{base.height} ({rb:.3f}) to "
                    f"{cand.width}×{cand.height} ({rc:.3f}); layouts sized for the old ratio will crop or"
                    " letterbox it. Declare crop: true in release.yml if the change is intended",
                    "dimensions",
                    f"{base.width}×{base.height} → {cand.width}×{cand.height}",
                )
            )

    profile = cand.icc_profile_name
    allowed = [p.casefold() for p in config.allowed_profiles]
    if profile is None:
        out.append(
            finding(
                "no_color_profile",
                "warning" if config.require_profile else "info",
                "no colour profile embedded; browsers will assume sRGB, which is right only if the"
                " image was exported as sRGB",
                "icc_profile",
            )
        )
    elif profile != "embedded" and not _is_srgb(profile) and not any(a in profile.casefold() for a in allowed):
        out.append(
            finding(
                "non_srgb_profile",
                "warning",
                f'colour profile "{profile}" is not sRGB; colours will shift in browsers and apps that'
                " ignore profiles. Convert to sRGB or list the profile in metadata.allowed_profiles",
                "icc_profile",
                profile,
            )
        )

    orientation = cand.exif_orientation
    if orientation is not None and orientation != 1:
        out.append(
            finding(
                "exif_orientation",
                "info",
                f"EXIF orientation {orientation} ({_ORIENTATION_NAMES.get(orientation, 'unknown')}); compared"
                " as displayed, but tools that ignore the tag show it the wrong way round. Bake the"
                " rotation into the pixels",
                "exif_orientation",
                str(orientation),
            )
        )

    if cand.metadata_flags.get("gps"):
        out.append(
            finding(
                "gps_leak",
                "critical",
                "GPS location embedded in the file; it reveals where the photo was taken (a home, an"
                " office, a model's whereabouts). Strip metadata on export",
                "metadata.gps",
                cand.metadata_flags["gps"],
            )
        )
    for key, label in PERSONAL_FLAGS.items():
        if cand.metadata_flags.get(key):
            out.append(
                finding(
                    "personal_metadata",
                    "warning",
                    f"{label} embedded in the file; it identifies a person or device. Strip metadata on export",
                    f"metadata.{key}",
                )
            )
    for key in sorted(cand.metadata_text):
        if key in PERSONAL_TEXT_FIELDS and cand.metadata_text[key].strip():
            out.append(
                finding(
                    "personal_metadata",
                    "warning",
                    f"{key} names a person in the file's metadata; strip it on export (or keep the credit"
                    " in the page text) unless the person agreed to publish it",
                    f"metadata.{key}",
                    cand.metadata_text[key],
                )
            )

    for dim, declared, actual in (("width", spec.width, cand.width), ("height", spec.height, cand.height)):
        if declared is not None and actual is not None and declared != actual:
            out.append(
                finding(
                    "declared_size",
                    "warning",
                    f"release.yml declares {dim} {declared} but the file is {actual} pixels {dim}; pages"
                    " sized from the declaration will reflow (layout shift) or blur",
                    dim,
                    f"declared {declared}, file {actual}",
                )
            )
    return out


class MetadataGate:
    name = "metadata"
    needs_pixels = False

    def evaluate(self, subject: ImageSubject, config: MetadataConfig) -> GateResult:
        cand = subject.candidate
        if not cand.usable:
            return GateResult(
                gate=self.name,
                status=Status.INCONCLUSIVE,
                summary=cand.error or f"candidate file {cand.path} is missing",
                image_id=subject.id,
                values={"findings": 0, "counted": 0, "info": 0, "warning": 0, "critical": 0},
            )
        findings = tuple(check_metadata(subject, config))
        per_severity = severity_counts(findings)
        n_counted = counted(findings, "warning")
        if n_counted > config.max_findings:
            status = Status.FAIL
        elif findings:
            status = Status.WARN
        else:
            status = Status.PASS
        summary = (
            "; ".join(dict.fromkeys(f.rule.removeprefix("metadata.").replace("_", " ") for f in findings))
            if findings
            else "metadata consistent, nothing personal embedded"
        )
        values: dict[str, Any] = {
            "findings": len(findings),
            "counted": n_counted,
            **per_severity,
            "aspect_ratio": _ratio(cand),
            "baseline_aspect_ratio": _ratio(subject.baseline) if subject.baseline else None,
            "icc_profile": cand.icc_profile_name,
            "exif_orientation": cand.exif_orientation,
        }
        return GateResult(
            gate=self.name,
            status=status,
            summary=summary,
            image_id=subject.id,
            measured=float(n_counted),
            threshold=float(config.max_findings),
            unit="findings",
            values=values,
            evidence={
                "candidate": cand.to_dict(),
                "baseline": subject.baseline.to_dict() if subject.baseline else None,
                "metadata_flags": dict(cand.metadata_flags),
                "metadata_fields": sorted(cand.metadata_text),
                "crop_declared": subject.spec.crop,
            },
            findings=findings,
        )
