"""Canary charts as PNG bytes, for ``files_upload_v2`` into the release thread.

Every function builds its own :class:`matplotlib.figure.Figure` on its own Agg canvas (so the
process-wide backend setting does not matter) and never touches ``pyplot``: pyplot keeps global
"current figure" state that is not thread-safe, and these run in worker threads
(``asyncio.to_thread``) so that rendering never blocks the event loop.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from numpy.typing import NDArray

from gates.metrics import Counters

CANARY = "#d95f02"
BASELINE = "#1b9e77"
BUDGET = "#7570b3"
OVER = "#c0392b"
DPI = 100


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _nan(values: Sequence[float | None]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def p75_over_time_png(
    times: Sequence[datetime],
    canary_p75: Sequence[float | None],
    baseline_p75: Sequence[float | None],
    budget_ms: float,
    *,
    metric: str = "LCP",
    title: str | None = None,
) -> bytes:
    """Canary and baseline p75 per time bucket; the band is baseline .. baseline + budget.

    A ``None`` is a bucket without samples, drawn as a gap rather than a dip to zero.
    """
    if not (len(times) == len(canary_p75) == len(baseline_p75)):
        raise ValueError("times, canary_p75 and baseline_p75 must have the same length")
    c, b = _nan(canary_p75), _nan(baseline_p75)
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    x: Any = np.array(list(times), dtype=object)
    # Empty buckets are skipped rather than drawn as breaks: RUM arrives in bursts, and a line
    # broken into single dots hides the trend the approver is looking for.
    has_b, has_c = ~np.isnan(b), ~np.isnan(c)
    ax.fill_between(
        list(x[has_b]), b[has_b], b[has_b] + budget_ms, color=BUDGET, alpha=0.25, label=f"budget (+{budget_ms:g} ms)"
    )
    ax.plot(list(x[has_b]), b[has_b], color=BASELINE, marker="o", ms=3, label="baseline p75")
    ax.plot(list(x[has_c]), c[has_c], color=CANARY, marker="o", ms=3, label="canary p75")
    ax.set_ylabel(f"{metric} p75 (ms)")
    ax.set_title(title or f"{metric} p75: canary vs baseline")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    if len(x) >= 2:
        # Matplotlib pads a date axis by years when the data spans seconds; pin it to the window.
        ax.set_xlim(x[0], x[-1])
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    ax.set_xlabel("time (UTC)")
    fig.autofmt_xdate()
    return _png(fig)


def distributions_png(
    canary: Mapping[str, NDArray[Any]],
    baseline: Mapping[str, NDArray[Any]],
    *,
    metrics: Sequence[str] = ("LCP", "INP"),
    title: str | None = None,
) -> bytes:
    """Histograms of both arms per metric on a log axis, with each arm's p75 marked."""
    fig = Figure(figsize=(5 * len(metrics), 4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        arms = [
            (name, colour, np.asarray(values.get(metric, np.empty(0)), dtype=np.float64))
            for name, colour, values in (("baseline", BASELINE, baseline), ("canary", CANARY, canary))
        ]
        arms = [(n, col, v[np.isfinite(v) & (v > 0)]) for n, col, v in arms]
        present = [v for _, _, v in arms if v.size]
        ax.set_title(f"{metric} distribution")
        if not present:
            ax.text(0.5, 0.5, "no samples yet", ha="center", va="center", transform=ax.transAxes)
            continue
        lo = min(float(v.min()) for v in present)
        hi = max(float(v.max()) for v in present)
        bins = np.geomspace(lo, hi if hi > lo else lo * 1.01, 60)
        for name, colour, v in arms:
            if not v.size:
                continue
            ax.hist(
                v,
                bins=bins,
                density=True,
                histtype="stepfilled",
                alpha=0.35,
                color=colour,
                label=f"{name} (n={v.size:,})",
            )
            q = float(np.quantile(v, 0.75, method="inverted_cdf"))
            ax.axvline(q, color=colour, linestyle="--", linewidth=1.2, label=f"{name} p75 {q:,.0f} ms")
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_yticks([])
        ax.legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return _png(fig)


def regional_error_png(
    regions: Mapping[str, Counters],
    max_rate: float,
    *,
    baseline: Mapping[str, Counters] | None = None,
    title: str = "Error rate by region",
) -> bytes:
    """Bars per region (red when over the cap), the cap as a line, baseline beside when given."""
    names = sorted(regions)
    rates = np.array([regions[n].error_rate or 0.0 for n in names], dtype=np.float64)
    fig = Figure(figsize=(max(5.0, 1.0 + 0.9 * len(names)), 4), layout="constrained")
    ax = fig.add_subplot()
    if not names:
        ax.text(0.5, 0.5, "no regional traffic yet", ha="center", va="center", transform=ax.transAxes)
    else:
        x = np.arange(len(names))
        width = 0.4 if baseline else 0.7
        colours = [OVER if r > max_rate else CANARY for r in rates]
        ax.bar(x - (width / 2 if baseline else 0), rates * 100, width, color=colours, label="canary")
        if baseline:
            base = np.array([(baseline.get(n) or Counters()).error_rate or 0.0 for n in names])
            ax.bar(x + width / 2, base * 100, width, color=BASELINE, label="baseline")
        ax.set_xticks(x, names)
        for xi, n, r in zip(x, names, rates, strict=True):
            ax.annotate(
                f"{regions[n].requests:,} req",
                (xi, r * 100),
                ha="center",
                va="bottom",
                fontsize="x-small",
                xytext=(0, 2),
                textcoords="offset points",
            )
    ax.axhline(max_rate * 100, color=BUDGET, linestyle="--", label=f"cap {max_rate:.2%}")
    ax.set_ylabel("error rate (%)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return _png(fig)
