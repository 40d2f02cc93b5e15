"""A team's own sensitivity terms (policy `terms_file`) reach the gate through the policy loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.drill.samples import encode, photo, write_bundle
from bot.policy_file import load_policy
from bot.preview.bundle import load_bundle
from bot.preview.runner import run_preview
from gates.policy import PolicyError
from gates.result import Status

TEAM_TERMS = """\
version: 1
locale: "nl"
topics:
  price_claims:
    severity: warning
    rationale: Dutch consumer law (ACM) requires the reference price for every discount claim.
    terms: [uitverkoop, "laagste prijs"]
"""

POLICY = """\
phases:
  preview:
    owners: {primary: [U0REVIEWER]}
    gates:
      sensitivity: {max_findings: 0, terms_file: terms/nl.yml}
  canary: {owners: {primary: [U0SRE00001]}}
  global: {owners: {primary: [U0PRODUCT1]}}
"""


def test_team_terms_file_is_read_relative_to_the_policy_and_applied(tmp_path: Path) -> None:
    (tmp_path / "terms").mkdir()
    (tmp_path / "terms" / "nl.yml").write_text(TEAM_TERMS)
    (tmp_path / "policy.yml").write_text(POLICY)
    policy = load_policy(tmp_path / "policy.yml", required=True)
    sensitivity = policy.phases.preview.gates.sensitivity
    assert sensitivity is not None and sensitivity.terms_text == TEAM_TERMS
    png = encode(photo(80, 60, 1), "PNG")
    write_bundle(
        tmp_path / "releases",
        "sale",
        title="Sale",
        files={"a.png": png, "b.png": png},
        images=[
            {"id": "a", "candidate": "a.png", "alt": "Grote uitverkoop in de winkel", "locale": "nl-NL"},
            {"id": "b", "candidate": "b.png", "alt": "Grote uitverkoop op het strand", "locale": "de-DE"},
        ],
    )
    loaded = load_bundle(tmp_path / "releases", "sale")
    report = run_preview(loaded.root, loaded.bundle, policy.phases.preview.gates)
    by_image = {r.image_id: r for r in report.results if r.gate == "sensitivity"}
    assert by_image["a"].status is Status.FAIL
    assert [f.rule for f in by_image["a"].findings] == ["sensitivity.price_claims"]
    assert by_image["b"].status is Status.PASS  # the Dutch list does not apply to German copy


def test_missing_terms_file_stops_startup_naming_it(tmp_path: Path) -> None:
    (tmp_path / "policy.yml").write_text(POLICY)
    with pytest.raises(PolicyError) as exc:
        load_policy(tmp_path / "policy.yml", required=True)
    assert "terms/nl.yml" in str(exc.value)
