"""Accessibility gate: alt text rules per image and duplicate alt text across the bundle."""

from __future__ import annotations

from typing import Any

import pytest

from gates.accessibility import AccessibilityGate, DuplicateAltGate, guess_language, locale_mismatch
from gates.bundle import BundleImage
from gates.policy import AccessibilityConfig
from gates.result import Status
from gates.subject import ImageFacts, ImageSubject


def subject(id: str = "hero-desktop", candidate: str | None = None, **spec: Any) -> ImageSubject:
    path = candidate or f"candidate/{id}.webp"
    return ImageSubject(spec=BundleImage(id=id, candidate=path, **spec), candidate=ImageFacts(path=path, exists=True))


def rules(**spec: Any) -> list[str]:
    config = spec.pop("config", AccessibilityConfig())
    r = AccessibilityGate().evaluate(subject(**spec), config)
    return [f.rule.removeprefix("accessibility.") for f in r.findings]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"alt": "Family walking on a beach at sunset"}, []),
        ({}, ["missing_alt"]),
        ({"alt": "   "}, ["missing_alt"]),
        ({"config": AccessibilityConfig(require_alt=False)}, []),
        ({"decorative": True}, []),
        ({"decorative": True, "alt": "Blue swirl"}, ["decorative_with_alt"]),
        ({"alt": "hero-desktop.webp"}, ["file_name_alt"]),
        ({"alt": "IMG_2041.JPG"}, ["file_name_alt"]),
        ({"alt": "DSC00012"}, ["file_name_alt"]),
        ({"alt": "hero-desktop"}, ["file_name_alt"]),  # the image id
        ({"alt": "summer_hero_v2"}, ["file_name_alt"]),
        ({"alt": "Sun-kissed"}, []),  # a hyphenated word is not a slug
        ({"alt": "image"}, ["placeholder_alt"]),
        ({"alt": "Image of a family on a beach"}, ["redundant_prefix"]),
        ({"alt": "A picture of two dogs playing"}, ["redundant_prefix"]),
        ({"alt": "Photo showing the new sofa"}, ["redundant_prefix"]),
        ({"alt": "Imagery of autumn leaves in a park"}, []),
        ({"alt": "x" * 151}, ["too_long"]),
        ({"alt": "x " * 75}, []),  # exactly 150 characters
        ({"alt": "ok"}, ["too_short"]),
        ({"alt": "Family walking on a beach at sunset", "locale": "de-DE"}, ["locale_mismatch"]),
        ({"alt": "Familie beim Spaziergang am Strand bei Sonnenuntergang", "locale": "de-DE"}, []),
        ({"alt": "Familie beim Spaziergang am Strand bei Sonnenuntergang", "locale": "en"}, []),  # too little evidence
        ({"alt": "Eine Familie mit dem Hund auf dem Weg zum Strand", "locale": "en-US"}, ["locale_mismatch"]),
        ({"alt": "海辺を歩く家族", "locale": "en"}, ["locale_mismatch"]),
        ({"alt": "海辺を歩く家族", "locale": "ja-JP"}, []),
    ],
)
def test_alt_rules(spec: dict[str, Any], expected: list[str]) -> None:
    assert rules(**spec) == expected


@pytest.mark.parametrize(
    ("alt", "status"),
    [
        ("Family walking on a beach at sunset", Status.PASS),
        (None, Status.FAIL),
        ("Image of a family on a beach", Status.FAIL),
    ],
)
def test_status_and_values(alt: str | None, status: Status) -> None:
    r = AccessibilityGate().evaluate(subject(alt=alt), AccessibilityConfig())
    assert r.status is status
    assert r.values["findings"] == len(r.findings)
    assert {"info", "warning", "critical"} <= set(r.values)


def test_decorative_with_alt_is_advice_only() -> None:
    r = AccessibilityGate().evaluate(subject(decorative=True, alt="swirl pattern"), AccessibilityConfig())
    assert r.status is Status.WARN


def test_finding_names_image_field_and_text() -> None:
    r = AccessibilityGate().evaluate(subject(alt="IMG_2041.JPG"), AccessibilityConfig())
    f = r.findings[0]
    assert (f.image_id, f.field, f.context, f.severity) == ("hero-desktop", "alt", "IMG_2041.JPG", "critical")


def test_duplicate_alt_across_different_images() -> None:
    subjects = [
        subject("a", alt="Red summer dress"),
        subject("b", alt="red  summer dress"),
        subject("c", alt="Blue summer dress"),
        subject("d", decorative=True),
        subject("e", decorative=True),
    ]
    [r] = DuplicateAltGate().evaluate(subjects, AccessibilityConfig())
    assert r.status is Status.FAIL and r.image_id is None
    assert [(f.image_id, f.rule) for f in r.findings] == [
        ("a", "accessibility.duplicate_alt"),
        ("b", "accessibility.duplicate_alt"),
    ]
    assert "b" in r.findings[0].message
    assert r.values["duplicate_groups"] == 1


def test_same_file_twice_is_not_a_duplicate() -> None:
    subjects = [
        subject("a", candidate="candidate/x.webp", alt="Red dress"),
        subject("b", candidate="candidate/x.webp", alt="Red dress"),
    ]
    [r] = DuplicateAltGate().evaluate(subjects, AccessibilityConfig())
    assert r.status is Status.PASS


def test_duplicates_can_be_allowed() -> None:
    subjects = [subject("a", alt="Red dress"), subject("b", alt="Red dress")]
    [r] = DuplicateAltGate().evaluate(subjects, AccessibilityConfig(allow_duplicate_alt=True))
    assert r.status is Status.PASS and r.values["duplicate_groups"] == 1


def test_language_helpers() -> None:
    assert guess_language("A family walking on the beach with a dog") == "en"
    assert guess_language("Red dress") is None
    assert locale_mismatch("Семья на пляже", "en") is not None
