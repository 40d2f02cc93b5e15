from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gates.canary import evaluate_global
from gates.metrics import CohortData, CohortPair, Counters, Window
from gates.policy import RegionalErrorConfig, default_policy
from gates.regional import evaluate_regional
from gates.result import Status

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(minutes=30))
CFG = RegionalErrorConfig(max_rate=0.01)


def test_all_regions_healthy() -> None:
    r = evaluate_regional({"eu": Counters(100_000, 300), "us": Counters(200_000, 500)}, CFG, window=WINDOW)
    assert r.status is Status.PASS
    assert r.values["regions"]["eu"]["error_rate"] == 0.003


def test_one_bad_region_fails_and_is_named_despite_a_healthy_average() -> None:
    regions = {
        "eu": Counters(1_000_000, 1000),
        "us": Counters(1_000_000, 1200),
        "ap": Counters(50_000, 2500),
    }
    r = evaluate_regional(regions, CFG, window=WINDOW)
    assert r.status is Status.FAIL
    assert r.values["over_cap"] == ["ap"]
    assert "ap 5.00%" in r.summary and "eu" not in r.summary
    assert r.measured == 0.05


def test_small_region_over_cap_is_watched_not_failed() -> None:
    r = evaluate_regional({"eu": Counters(100_000, 100), "sa": Counters(20, 1)}, CFG, window=WINDOW)
    assert r.status is Status.INCONCLUSIVE
    assert r.values["watch"] == ["sa"]


def test_no_traffic() -> None:
    assert evaluate_regional({}, CFG, window=WINDOW).status is Status.INCONCLUSIVE
    r = evaluate_regional({"eu": Counters(10_000, 1), "us": Counters()}, CFG, window=WINDOW)
    assert r.status is Status.PASS and "no traffic yet: us" in r.summary


def test_evaluate_global_runs_regional_only() -> None:
    policy = default_policy().phases.global_
    data = CohortPair(CohortData(regions={"eu": Counters(10_000, 500)}), CohortData())
    results = evaluate_global(data, policy, WINDOW, T0)
    assert [r.gate for r in results] == ["regional_error_rate"]
    assert results[0].status is Status.FAIL
