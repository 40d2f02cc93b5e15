"""Metadata alignment gate: aspect ratio, colour profile, orientation, leaks, declared size."""

from __future__ import annotations

from typing import Any

import pytest

from gates.bundle import BundleImage
from gates.metadata import MetadataGate
from gates.policy import MetadataConfig
from gates.result import Status
from gates.subject import ImageFacts, ImageSubject


def facts(path: str = "c.webp", **kw: Any) -> ImageFacts:
    kw.setdefault("width", 1200)
    kw.setdefault("height", 600)
    kw.setdefault("icc_profile_name", "sRGB IEC61966-2.1")
    return ImageFacts(path=path, exists=True, **kw)


def evaluate(
    spec: dict[str, Any] | None = None,
    cand: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
    config: MetadataConfig | None = None,
) -> Any:
    s = ImageSubject(
        spec=BundleImage(
            id="hero", candidate="c.webp", baseline="b.webp" if base is not None else None, **(spec or {})
        ),
        candidate=facts(**(cand or {})),
        baseline=facts("b.webp", **base) if base is not None else None,
    )
    return MetadataGate().evaluate(s, config or MetadataConfig())


def rules(*args: Any, **kw: Any) -> list[str]:
    return [f.rule.removeprefix("metadata.") for f in evaluate(*args, **kw).findings]


@pytest.mark.parametrize(
    ("spec", "cand", "base", "expected"),
    [
        ({}, {}, {}, []),
        ({}, {}, {"width": 2400, "height": 1200}, []),  # resized, same ratio
        ({}, {}, {"width": 1200, "height": 800}, ["aspect_ratio"]),
        ({"crop": True}, {}, {"width": 1200, "height": 800}, []),
        ({}, {"width": 1201}, {}, []),  # within tolerance
        ({}, {"icc_profile_name": None}, None, ["no_color_profile"]),
        ({}, {"icc_profile_name": "Display P3"}, None, ["non_srgb_profile"]),
        ({}, {"icc_profile_name": "Adobe RGB (1998)"}, None, ["non_srgb_profile"]),
        ({}, {"icc_profile_name": "sRGB built-in"}, None, []),
        ({}, {"icc_profile_name": "embedded"}, None, []),  # name unreadable: not guessed at
        ({}, {"exif_orientation": 6}, None, ["exif_orientation"]),
        ({}, {"exif_orientation": 1}, None, []),
        ({}, {"metadata_flags": {"gps": "present"}}, None, ["gps_leak"]),
        ({}, {"metadata_flags": {"camera_serial": "present"}}, None, ["personal_metadata"]),
        ({}, {"metadata_text": {"Artist": "Jane Doe"}}, None, ["personal_metadata"]),
        ({}, {"metadata_text": {"Copyright": "ACME Ltd"}}, None, []),
        ({"width": 1200, "height": 600}, {}, None, []),
        ({"width": 1280}, {}, None, ["declared_size"]),
        ({"width": 1200, "height": 630}, {}, None, ["declared_size"]),
    ],
)
def test_rules(spec: dict[str, Any], cand: dict[str, Any], base: dict[str, Any] | None, expected: list[str]) -> None:
    assert rules(spec, cand, base) == expected


def test_orientation_is_compared_as_displayed() -> None:
    # The loader reports oriented dimensions; a rotated portrait baseline vs a portrait candidate agree.
    assert rules({}, {"width": 600, "height": 1200}, {"width": 600, "height": 1200, "exif_orientation": 6}) == []


def test_allowed_profile_is_declared_ok() -> None:
    config = MetadataConfig(allowed_profiles=["display p3"])
    assert rules({}, {"icc_profile_name": "Display P3"}, None, config=config) == []


def test_required_profile_escalates_missing_profile() -> None:
    r = evaluate(cand={"icc_profile_name": None}, config=MetadataConfig(require_profile=True))
    assert r.findings[0].severity == "warning" and r.status is Status.FAIL


@pytest.mark.parametrize(
    ("cand", "config", "status"),
    [
        ({}, MetadataConfig(), Status.PASS),
        ({"exif_orientation": 3}, MetadataConfig(), Status.WARN),  # info: reported, not counted
        ({"metadata_flags": {"gps": "present"}}, MetadataConfig(), Status.FAIL),
        ({"metadata_flags": {"gps": "present"}}, MetadataConfig(max_findings=1), Status.WARN),
        ({"icc_profile_name": "Display P3"}, MetadataConfig(), Status.FAIL),
    ],
)
def test_status(cand: dict[str, Any], config: MetadataConfig, status: Status) -> None:
    assert evaluate(cand=cand, config=config).status is status


def test_gps_finding_and_values() -> None:
    r = evaluate(cand={"metadata_flags": {"gps": "present"}, "metadata_text": {"Artist": "Jane"}})
    gps = next(f for f in r.findings if f.rule == "metadata.gps_leak")
    assert (gps.image_id, gps.field, gps.severity) == ("hero", "metadata.gps", "critical")
    assert r.values["findings"] == 2 and r.values["critical"] == 1 and r.values["warning"] == 1


def test_unusable_candidate_is_inconclusive() -> None:
    s = ImageSubject(
        spec=BundleImage(id="hero", candidate="c.webp"),
        candidate=ImageFacts(path="c.webp", exists=False, error="c.webp: file not found in the bundle"),
    )
    r = MetadataGate().evaluate(s, MetadataConfig())
    assert r.status is Status.INCONCLUSIVE and "not found" in r.summary
