from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gates.cache_hit import evaluate_cache_hit
from gates.error_budget import evaluate_error_budget, proportion_bounds, two_proportion_test
from gates.metrics import Counters, Window
from gates.policy import CacheHitConfig, ErrorBudgetConfig
from gates.result import Status

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(minutes=30))
CFG = ErrorBudgetConfig(max_rate=0.005)


def judge(canary: Counters, baseline: Counters, min_requests: int = 1000):
    return evaluate_error_budget(canary, baseline, CFG, min_requests=min_requests, window=WINDOW)


def test_clean_canary_passes() -> None:
    r = judge(Counters(requests=200_000, errors=200), Counters(requests=2_000_000, errors=2100))
    assert r.status is Status.PASS
    assert r.measured == pytest.approx(0.001)
    assert r.evidence["max_rate"] == 0.005 and "window" in r.evidence


def test_over_cap_fails_and_names_the_numbers() -> None:
    r = judge(Counters(requests=100_000, errors=1200), Counters(requests=1_000_000, errors=1000))
    assert r.status is Status.FAIL
    assert "1.200%" in r.summary and "0.500%" in r.summary


def test_worse_than_baseline_but_under_cap_warns() -> None:
    r = judge(Counters(requests=500_000, errors=1500), Counters(requests=5_000_000, errors=5000))
    assert r.status is Status.WARN
    assert r.values["p_worse_than_baseline"] < 0.01


def test_both_arms_over_cap_is_not_blamed_on_the_release() -> None:
    r = judge(Counters(requests=100_000, errors=2000), Counters(requests=1_000_000, errors=20_500))
    assert r.status is Status.INCONCLUSIVE
    assert "likely not this release" in r.summary


def test_too_few_requests_is_inconclusive() -> None:
    r = judge(Counters(requests=50, errors=0), Counters(requests=100_000, errors=10))
    assert r.status is Status.INCONCLUSIVE
    assert "too few requests" in r.summary


def test_near_cap_without_proof_is_inconclusive() -> None:
    r = judge(Counters(requests=2000, errors=9), Counters(requests=100_000, errors=400))
    assert r.status is Status.INCONCLUSIVE


def test_more_errors_than_requests_is_a_source_bug() -> None:
    r = judge(Counters(requests=2000, errors=3000), Counters(requests=2000, errors=1))
    assert r.status is Status.INCONCLUSIVE
    assert "metrics source" in r.summary


def test_zero_errors_everywhere() -> None:
    assert two_proportion_test(0, 1000, 0, 1000).p_greater == 1.0
    assert judge(Counters(requests=10_000), Counters(requests=10_000)).status is Status.PASS


def test_proportion_bounds() -> None:
    lo, hi = proportion_bounds(0, 1000)
    assert lo == 0 and 0.002 < hi < 0.003
    assert proportion_bounds(0, 0) == (0.0, 1.0)


def test_cache_hit() -> None:
    cfg = CacheHitConfig(min_rate=0.9)
    ok = evaluate_cache_hit(Counters(cache_hit=9500, cache_miss=500), Counters(), cfg, min_lookups=1000, window=WINDOW)
    assert ok.status is Status.PASS and ok.measured == pytest.approx(0.95)
    bad = evaluate_cache_hit(
        Counters(cache_hit=7000, cache_miss=3000),
        Counters(cache_hit=9, cache_miss=1),
        cfg,
        min_lookups=1000,
        window=WINDOW,
    )
    assert bad.status is Status.FAIL and "70.0%" in bad.summary
    close = evaluate_cache_hit(
        Counters(cache_hit=895, cache_miss=105), Counters(), cfg, min_lookups=1000, window=WINDOW
    )
    assert close.status is Status.INCONCLUSIVE
    few = evaluate_cache_hit(Counters(cache_hit=10), Counters(), cfg, min_lookups=1000, window=WINDOW)
    assert few.status is Status.INCONCLUSIVE
