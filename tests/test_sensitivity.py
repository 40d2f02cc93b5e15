"""Sensitivity scanner: the default English policy, team terms files, every field, the verdict."""

from __future__ import annotations

from typing import Any

import pytest

from gates.bundle import BundleImage
from gates.policy import SensitivityConfig
from gates.result import Status
from gates.sensitivity import (
    SensitivityGate,
    TermsError,
    default_terms,
    parse_terms,
    scan_text,
)
from gates.subject import ImageFacts, ImageSubject


def subject(
    *, metadata: dict[str, str] | None = None, candidate: str = "candidate/hero.webp", **spec: Any
) -> ImageSubject:
    return ImageSubject(
        spec=BundleImage(id=spec.pop("id", "hero"), candidate=candidate, **spec),
        candidate=ImageFacts(path=candidate, exists=True, metadata_text=metadata or {}),
    )


def topics(text: str, locale: str | None = None) -> list[tuple[str, str, str]]:
    hits = scan_text(text, field="alt", image_id="x", terms=default_terms(), locale=locale)
    return [(h.topic.name, h.severity, h.matched) for h in hits]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tea that cures colds", [("health_claims", "critical", "cures")]),
        ("Clinically proven formula", [("health_claims", "warning", "Clinically proven")]),
        ("Guaranteed results", [("regulated_claims", "critical", "Guaranteed")]),
        ("A risk-free trial", [("regulated_claims", "critical", "risk-free")]),
        ("Free shipping", [("regulated_claims", "info", "Free")]),
        ("Soldiers with guns", [("violence", "warning", "guns")]),
        ("Vote on election day", [("politics", "warning", "Vote"), ("politics", "warning", "election")]),
        ("Kids on a slide", [("minors", "warning", "Kids")]),
        ("Underage drinking", [("minors", "critical", "Underage")]),
        ("Wheelchair-bound man", [("discriminatory_wording", "warning", "Wheelchair-bound")]),
        # obfuscated
        ("Tea that c\u200bures colds", [("health_claims", "critical", "c[U+200B]ures")]),
        ("Guаrаnteed results", [("regulated_claims", "critical", "Guаrаnteed")]),
        ("Try it r i s k f r e e", [("regulated_claims", "critical", "r i s k f r e e")]),
        ("A r i s k f r e e trial", [("regulated_claims", "critical", "A r i s k f r e e")]),
        ("ＣＵＲＥＳ colds", [("health_claims", "critical", "ＣＵＲＥＳ")]),
    ],
)
def test_default_policy_topics(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert topics(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe seafront at dawn",
        "Egyptian cotton sheets",
        "Flame retardant curtains",
        "Behind the scenes of our photo shoot",
        "Lavender bath bomb on a towel",
        "Dry cured ham on a board",
        "Feel free to browse",
        "Gluten-free bread",
        "Freedom to roam",
        "Secure checkout badge",
        "Hand-curated autumn collection",
        "Handle with kid gloves",
        "Glue gun and craft paper",
        "Low risk. Free returns within 30 days",  # the phrase "risk free" must not span a sentence
    ],
)
def test_default_policy_false_positive_traps(text: str) -> None:
    found = [t for t in topics(text) if t[1] != "info"]
    assert found == [], found


def test_overlapping_terms_report_once_most_severe() -> None:
    # "guaranteed returns" and "guarantee*" both match; one finding for one place.
    assert topics("Guaranteed returns on savings") == [("regulated_claims", "critical", "Guaranteed returns")]


def test_finding_names_everything_a_reviewer_needs() -> None:
    s = subject(alt="Herbal tea that cures the flu, guaranteed", locale="en-GB")
    r = SensitivityGate().evaluate(s, SensitivityConfig())
    f = next(f for f in r.findings if f.rule == "sensitivity.health_claims")
    assert f.image_id == "hero"
    assert f.field == "alt"
    assert f.severity == "critical"
    assert "cures" in f.message and "substantiated" in f.message  # matched text and rationale
    assert f.context is not None and "tea that cures the flu" in f.context.lower()


def test_obfuscation_is_named_in_the_message() -> None:
    s = subject(caption="Tea that сures colds")  # Cyrillic с
    r = SensitivityGate().evaluate(s, SensitivityConfig())
    assert "look-alike letters" in r.findings[0].message


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alt": "Guaranteed win"}, "alt"),
        ({"caption": "Guaranteed win"}, "caption"),
        ({"title": "Guaranteed win"}, "title"),
        ({"candidate": "candidate/guaranteed-win.webp"}, "file_name"),
        ({"candidate": "candidate/GuaranteedWin.webp"}, "file_name"),
        ({"metadata": {"ImageDescription": "Guaranteed win"}}, "metadata.ImageDescription"),
        ({"metadata": {"xmp:dc:title": "Guaranteed win"}}, "metadata.xmp:dc:title"),
        ({"metadata": {"iptc:caption": "Guaranteed win"}}, "metadata.iptc:caption"),
    ],
)
def test_every_shipped_field_is_scanned(kwargs: dict[str, Any], field: str) -> None:
    r = SensitivityGate().evaluate(subject(**kwargs), SensitivityConfig())
    assert [f.field for f in r.findings] == [field]


def test_verdict_counts_and_values() -> None:
    s = subject(alt="Free gift for kids", caption="Guaranteed fun")
    r = SensitivityGate().evaluate(s, SensitivityConfig(max_findings=0))
    assert r.status is Status.FAIL
    assert r.values["findings"] == 3
    assert (r.values["info"], r.values["warning"], r.values["critical"]) == (1, 1, 1)
    assert r.values["counted"] == 2  # info does not count by default
    assert r.measured == 2 and r.threshold == 0


@pytest.mark.parametrize(
    ("alt", "config", "status"),
    [
        ("A beach at sunset", SensitivityConfig(), Status.PASS),
        ("Free beach towel", SensitivityConfig(), Status.WARN),  # info only: reported, not counted
        ("Free beach towel", SensitivityConfig(min_severity="info"), Status.FAIL),
        ("Kids on a beach", SensitivityConfig(max_findings=1), Status.WARN),
        ("Kids on a beach", SensitivityConfig(), Status.FAIL),
        ("Tea that cures", SensitivityConfig(min_severity="critical"), Status.FAIL),  # critical always counts
        ("Kids on a beach", SensitivityConfig(min_severity="critical"), Status.WARN),
    ],
)
def test_status(alt: str, config: SensitivityConfig, status: Status) -> None:
    assert SensitivityGate().evaluate(subject(alt=alt), config).status is status


TEAM_FILE = """
version: 1
locale: de
topics:
  regulated_claims_de:
    severity: critical
    rationale: Heilversprechen und Garantien sind nach HWG und UWG unzulässig.
    terms: [garantiert, heilt, {term: kostenlos, severity: warning}]
    exceptions: [kostenlos parken]
"""


def test_team_terms_file_adds_locale_terms() -> None:
    read: list[str] = []

    def read_text(path: str) -> str:
        read.append(path)
        return TEAM_FILE

    gate = SensitivityGate(read_text=read_text)
    config = SensitivityConfig(terms_file="policy/terms_de.yml")
    de = gate.evaluate(subject(alt="Garantiert kostenlos", locale="de-DE"), config)
    assert [(f.rule, f.severity) for f in de.findings] == [
        ("sensitivity.regulated_claims_de", "critical"),
        ("sensitivity.regulated_claims_de", "warning"),
    ]
    # German list does not apply to a French page; the English default still does.
    fr = gate.evaluate(subject(alt="Garantiert, guaranteed", locale="fr-FR"), config)
    assert [f.rule for f in fr.findings] == ["sensitivity.regulated_claims"]
    assert gate.evaluate(subject(alt="Kostenlos parken", locale="de"), config).findings == ()
    assert read == ["policy/terms_de.yml"]  # parsed once, then cached


def test_team_file_can_replace_the_default() -> None:
    terms = parse_terms(TEAM_FILE.replace("locale: de", "locale: '*'\ninclude_default: false"))
    assert [t.name for t in terms.topics] == ["regulated_claims_de"]


def test_terms_file_without_reader_is_inconclusive_not_silently_skipped() -> None:
    r = SensitivityGate().evaluate(subject(alt="x"), SensitivityConfig(terms_file="terms.yml"))
    assert r.status is Status.INCONCLUSIVE
    assert "terms.yml" in r.summary


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("topics: [", "not valid YAML"),
        ("- a list", "expected a mapping"),
        ("topics: {}", "topics"),
        ("topics: {x: {severity: fatal, rationale: because it is bad, terms: [a]}}", "severity"),
        ("topics: {x: {severity: info, rationale: because it is bad}}", "no terms"),
        ("topics: {Bad-Name: {severity: info, rationale: because it is bad, terms: [a]}}", "Bad-Name"),
        ("topics: {x: {severity: info, rationale: because it is bad, terms: [a], extra: 1}}", "unknown key"),
        ("topics: {x: {severity: info, rationale: because it is bad, terms: ['---']}}", "no words"),
        ("version: 2\ntopics: {x: {severity: info, rationale: because it is bad, terms: [a]}}", "version"),
    ],
)
def test_terms_schema_is_validated(text: str, message: str) -> None:
    with pytest.raises(TermsError, match=message):
        parse_terms(text, "terms.yml")


def test_default_policy_is_reasoned() -> None:
    terms = default_terms()
    names = set(terms.topic_names())
    assert {"health_claims", "violence", "politics", "discriminatory_wording", "minors", "regulated_claims"} <= names
    for topic in terms.topics:
        assert len(topic.rationale) > 60, topic.name
        assert topic.rules
