"""The shipped example policy is the built-in default, and it parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gates.policy import PolicyError, default_policy, parse_policy

REPO = Path(__file__).resolve().parents[1]


def test_example_policy_is_the_default() -> None:
    example = parse_policy((REPO / "policy.example.yml").read_text(), "policy.example.yml")
    assert example == default_policy()
    assert example.phases.canary.traffic.steps == [5.0, 10.0]
    assert example.phases.global_.traffic.steps == [25.0, 50.0, 100.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("phases: {preview: {owners: {primary: [U1X]}}}", "phases.canary: Field required"),
        ("phases:\n  preview:\n    owners: {primary: [U0A]}\n    sla: 15m\n    slaa: 1m\n", "unknown key"),
        ("phases: [", "not valid YAML at line 1"),
        ("phases:\n  preview:\n    owners: {primary: [alice]}\n", "is not a Slack user"),
    ],
)
def test_malformed_policies_name_the_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "policy.yml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("policy.yml")
