"""Policy `requesters` / `auditors`: parsed, validated, and their documented defaults."""

from __future__ import annotations

import pytest
import yaml

from gates.policy import DEFAULT_POLICY_YAML, PolicyError, parse_policy


def test_defaults_anyone_starts_and_every_owner_audits() -> None:
    policy = parse_policy(DEFAULT_POLICY_YAML)
    assert policy.requester_ids() is None
    assert policy.auditor_ids() == ["U0REVIEWER", "U0BACKUP01", "U0SRE00001", "S0SREGROUP", "U0PRODUCT1", "U0PRODVP01"]


def test_named_requesters_and_auditors() -> None:
    policy = parse_policy(DEFAULT_POLICY_YAML + "requesters: [U0PRIYA001, S0CAMPAIGN]\nauditors: [W0AUDITOR1]\n")
    assert policy.requester_ids() == ["U0PRIYA001", "S0CAMPAIGN"]
    assert policy.auditor_ids() == ["W0AUDITOR1"]
    # A release's policy snapshot keeps them.
    assert parse_policy(yaml.safe_dump(policy.to_dict())).requesters == ["U0PRIYA001", "S0CAMPAIGN"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("requesters: [priya]\n", "requesters: Value error, 'priya' is not a Slack user"),
        ("auditors: []\n", "auditors: Value error, list at least one user or user group"),
        ("auditor: [U0AUDITOR1]\n", "auditor: unknown key"),
    ],
)
def test_bad_access_lists_name_the_key(extra: str, message: str) -> None:
    with pytest.raises(PolicyError) as exc:
        parse_policy(DEFAULT_POLICY_YAML + extra)
    assert message in str(exc.value)
