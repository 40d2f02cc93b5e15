"""make_traffic: engines picked from the policy, fan-out, advice only, and config errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.traffic.advice import AdviceOnly
from bot.traffic.allocation import region_percents
from bot.traffic.factory import FanOut, TrafficConfigError, make_traffic
from bot.traffic.flagd import FlagdFile
from bot.traffic.protocol import Split, TrafficError
from bot.traffic.webhook import Webhook
from gates.policy import Policy, PolicyError, default_policy, parse_policy


def _policy(traffic: dict[str, Any] | None) -> Policy:
    data = default_policy().to_dict()
    data["traffic"] = traffic
    return Policy.model_validate(data)


def test_none_configured_is_advice_only() -> None:
    assert isinstance(make_traffic(default_policy()), AdviceOnly)
    assert isinstance(make_traffic(_policy({"engines": []})), AdviceOnly)


def test_single_and_fan_out(tmp_path: Path) -> None:
    one = make_traffic(_policy({"engines": ["flagd"], "flagd": {"path": str(tmp_path / "f.json")}}))
    assert isinstance(one, FlagdFile) and one.path == tmp_path / "f.json"
    both = make_traffic(
        _policy(
            {
                "engines": ["flagd", "webhook"],
                "flagd": {"path": str(tmp_path / "f.json")},
                "webhook": {
                    "url": "https://edge.example/traffic",
                    "secret_env": "HOOK_KEY",
                    "attempts": 2,
                    "timeout": "3s",
                },
            }
        ),
        environ={"HOOK_KEY": "k"},
    )
    assert isinstance(both, FanOut) and both.name == "flagd+webhook"
    hook = both.engines[1]
    assert isinstance(hook, Webhook) and hook.attempts == 2 and hook.timeout == 3.0


def test_missing_secret_and_bad_policy_name_the_key() -> None:
    with pytest.raises(TrafficConfigError, match="HOOK_KEY is required"):
        make_traffic(
            _policy({"engines": ["webhook"], "webhook": {"url": "https://e/x", "secret_env": "HOOK_KEY"}}), environ={}
        )
    text = json.dumps(default_policy().to_dict() | {"traffic": {"engines": ["istio"]}})
    with pytest.raises(PolicyError, match=r"traffic\.engines\.0"):
        parse_policy(text)
    typo = default_policy().to_dict() | {"traffic": {"engines": ["flagd"], "flagd": {"pth": "x"}}}
    with pytest.raises(PolicyError, match=r"traffic\.flagd\.pth: unknown key"):
        parse_policy(json.dumps(typo))


class _Broken:
    name = "broken"

    async def apply(self, split: Split) -> None:
        raise TrafficError("edge said no")


async def test_fan_out_reaches_every_engine_even_when_one_fails(tmp_path: Path) -> None:
    advice = AdviceOnly()
    flagd = FlagdFile(tmp_path / "f.json")
    fan = FanOut([_Broken(), flagd, advice])
    with pytest.raises(TrafficError, match="broken: edge said no"):
        await fan.apply(Split("summer-hero", "canary", 0.0, {}, "rollback"))
    # The rollback still reached the engines that work.
    assert flagd.percent("summer-hero") == 0.0
    assert [s.percent for s in advice.applied] == [0.0]


def test_region_percents_average_to_the_overall_share() -> None:
    assert region_percents(5, {"eu": 0.5, "us": 0.5}) == {"eu": 5.0, "us": 5.0}
    assert region_percents(50, {"eu": 0.75, "us": 0.25}) == {"eu": 75.0, "us": 25.0}
    # eu cannot take 120%: the rest goes to us, and the average stays 80%.
    assert region_percents(80, {"eu": 0.75, "us": 0.25}) == {"eu": 100.0, "us": 60.0}
    assert region_percents(100, {"eu": 0.9, "us": 0.1}) == {"eu": 100.0, "us": 100.0}
    assert region_percents(0, {"eu": 1.0}) == {"eu": 0.0}
    assert region_percents(10, {}) == {}
