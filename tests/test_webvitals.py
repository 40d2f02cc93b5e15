from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gates.metrics import CohortData, CohortPair, Counters, Window
from gates.policy import P75Config, default_policy
from gates.result import Status
from gates.webvitals import evaluate_p75, mann_whitney, p75, resample_quantile

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(minutes=30))
NOW = T0 + timedelta(minutes=31)
CFG = P75Config(max_increase_ms=150)


def lognormal(seed: int, n: int, median: float = 1000.0, sigma: float = 0.5, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.lognormal(np.log(median), sigma, n) + shift


def judge(
    canary: np.ndarray,
    baseline: np.ndarray,
    *,
    min_samples: int = 1000,
    window: Window = WINDOW,
    now: datetime = NOW,
    seed: int = 0,
):
    return evaluate_p75(
        "lcp_p75",
        canary,
        baseline,
        CFG,
        min_samples=min_samples,
        observe=timedelta(minutes=30),
        window=window,
        now=now,
        seed=seed,
    )


def test_clear_pass() -> None:
    r = judge(lognormal(1, 5000), lognormal(2, 5000))
    assert r.status is Status.PASS
    assert r.evidence["diff_upper"] < 150
    for key in (
        "n_canary",
        "n_baseline",
        "p75_canary",
        "p75_baseline",
        "diff",
        "diff_lower",
        "diff_upper",
        "threshold_ms",
        "window",
        "seed",
        "resamples",
    ):
        assert key in r.evidence
    assert r.evidence["n_canary"] == 5000 and r.evidence["resamples"] == 10_000


def test_clear_regression_fails_and_mann_whitney_agrees() -> None:
    r = judge(lognormal(3, 5000, shift=400), lognormal(4, 5000))
    assert r.status is Status.FAIL
    assert r.evidence["diff_lower"] > 150
    assert r.values["mann_whitney_p"] < 1e-6
    assert r.values["prob_canary_slower"] > 0.6
    assert "regression" in r.summary


def test_borderline_is_inconclusive() -> None:
    # True p75 difference equals the budget: neither bound can clear it.
    r = judge(lognormal(5, 2000, shift=150), lognormal(6, 2000))
    assert r.status is Status.INCONCLUSIVE
    assert r.evidence["diff_lower"] < 150 < r.evidence["diff_upper"]


def test_tiny_samples_never_pass() -> None:
    r = judge(lognormal(7, 50), lognormal(8, 50))
    assert r.status is Status.INCONCLUSIVE
    assert "too few samples" in r.summary
    # Even a blatant regression on tiny arms only reports, it does not decide.
    r = judge(lognormal(9, 50, shift=2000), lognormal(10, 50))
    assert r.status is Status.INCONCLUSIVE


def test_short_observation_is_inconclusive() -> None:
    r = judge(lognormal(1, 5000), lognormal(2, 5000), now=T0 + timedelta(minutes=10))
    assert r.status is Status.INCONCLUSIVE
    assert "observed 10m of 30m" in r.summary


def test_empty_arm() -> None:
    r = judge(np.array([]), lognormal(2, 5000))
    assert r.status is Status.INCONCLUSIVE
    assert "canary" in r.summary


def test_all_identical_samples() -> None:
    same = np.full(3000, 1234.0)
    r = judge(same, same.copy())
    assert r.status is Status.PASS
    assert r.evidence["diff"] == 0 and r.evidence["diff_lower"] == 0 and r.evidence["diff_upper"] == 0
    assert r.values["mann_whitney_p"] == 0.5
    # With a zero budget "upper bound below the budget" cannot hold: not a pass.
    r0 = evaluate_p75(
        "lcp_p75",
        same,
        same,
        P75Config(max_increase_ms=0),
        min_samples=1000,
        observe=timedelta(minutes=30),
        window=WINDOW,
        now=NOW,
    )
    assert r0.status is Status.INCONCLUSIVE


def test_non_finite_values_are_dropped_and_counted() -> None:
    c = np.concatenate([lognormal(1, 3000), [np.nan, np.inf]])
    r = judge(c, lognormal(2, 3000))
    assert r.evidence["n_canary"] == 3000
    assert r.evidence["dropped_non_finite"] == 2


def test_seeded_and_reproducible() -> None:
    c, b = lognormal(11, 3000, shift=100), lognormal(12, 3000)
    assert judge(c, b).evidence == judge(c, b).evidence
    assert judge(c, b, seed=1).evidence["diff_upper"] != judge(c, b, seed=2).evidence["diff_upper"]


def test_fast_bootstrap_matches_plain_resampling() -> None:
    rng = np.random.default_rng(0)
    x = np.sort(rng.lognormal(7, 0.5, 400))
    fast = resample_quantile(x, np.random.default_rng(1), 20_000)
    plain = np.array([p75(np.sort(rng.choice(x, x.size))) for _ in range(5000)])
    qs = [0.05, 0.5, 0.95]
    spread = np.quantile(plain, 0.95) - np.quantile(plain, 0.05)
    assert np.allclose(np.quantile(fast, qs), np.quantile(plain, qs), atol=0.05 * spread)


def test_mann_whitney_against_scipy() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    a, b = np.round(rng.lognormal(7, 0.5, 700)), np.round(rng.lognormal(7.05, 0.5, 900))
    ours = mann_whitney(a, b)
    ref = scipy_stats.mannwhitneyu(a, b, alternative="greater", method="asymptotic")
    assert ours.u == pytest.approx(ref.statistic)
    assert ours.p_greater == pytest.approx(ref.pvalue, rel=1e-9)


def test_evaluate_canary_runs_enabled_gates() -> None:
    from gates.canary import evaluate_canary

    policy = default_policy().phases.canary
    data = CohortPair(
        canary=CohortData(
            {"LCP": lognormal(1, 4000), "INP": lognormal(2, 4000, median=80)},
            {"eu": Counters(100_000, 50, 95_000, 5_000)},
        ),
        baseline=CohortData(
            {"LCP": lognormal(3, 4000), "INP": lognormal(4, 4000, median=80)},
            {"eu": Counters(100_000, 45, 95_500, 4_500)},
        ),
    )
    results = evaluate_canary(data, policy, WINDOW, NOW)
    assert [r.gate for r in results] == ["lcp_p75", "inp_p75", "error_budget", "cache_hit"]
    assert all(r.status is Status.PASS for r in results), [r.summary for r in results]


def test_a_verdict_on_lab_samples_says_so() -> None:
    from gates.canary import evaluate_canary

    policy = default_policy().phases.canary
    data = CohortPair(
        canary=CohortData({"LCP": lognormal(1, 4000), "INP": lognormal(2, 4000, median=80)}),
        baseline=CohortData({"LCP": lognormal(3, 4000), "INP": lognormal(4, 4000, median=80)}),
        sources={"LCP": "rum", "INP": "lab"},
    )
    lcp_r, inp_r = evaluate_canary(data, policy, WINDOW, NOW)[:2]
    assert lcp_r.evidence["source"] == "rum" and lcp_r.summary.startswith("LCP p75")
    assert inp_r.evidence["source"] == "lab" and inp_r.summary.startswith("lab samples: INP p75")
