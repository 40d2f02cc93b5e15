from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image

from bot.artifacts.charts import distributions_png, p75_over_time_png, regional_error_png
from gates.metrics import Counters

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def sane(img: Image.Image) -> None:
    w, h = img.size
    assert 300 <= w <= 2000 and 200 <= h <= 1200
    # Not a blank canvas: something was drawn.
    assert len(img.convert("L").getcolors(maxcolors=256) or range(257)) > 10


def test_p75_over_time() -> None:
    times = [T0 + timedelta(minutes=5 * i) for i in range(7)]
    canary = [None, 1500.0, 1520, 1490, 1600, 1580, 1610]
    baseline = [1400.0, 1410, 1405, 1398, 1420, 1415, 1411]
    img = decode(p75_over_time_png(times, canary, baseline, 150, metric="LCP"))
    assert img.size == (800, 400)
    sane(img)


def test_distributions_with_an_empty_metric() -> None:
    rng = np.random.default_rng(0)
    png = distributions_png(
        {"LCP": rng.lognormal(7.1, 0.5, 5000), "INP": np.array([])},
        {"LCP": rng.lognormal(7.0, 0.5, 5000), "INP": np.array([np.nan])},
    )
    img = decode(png)
    assert img.size == (1000, 400)
    sane(img)


def test_regional_error_rate() -> None:
    regions = {"eu": Counters(100_000, 300), "us": Counters(80_000, 1200), "ap": Counters()}
    sane(decode(regional_error_png(regions, 0.01, baseline={"eu": Counters(1_000_000, 2500)})))
    sane(decode(regional_error_png({}, 0.01)))


async def test_thread_safe_under_to_thread() -> None:
    rng = np.random.default_rng(1)
    arms = ({"LCP": rng.lognormal(7, 0.5, 2000)}, {"LCP": rng.lognormal(7, 0.5, 2000)})
    jobs = [asyncio.to_thread(distributions_png, *arms, metrics=("LCP",)) for _ in range(6)]
    jobs += [asyncio.to_thread(regional_error_png, {"eu": Counters(1000, i)}, 0.01) for _ in range(6) for i in (1, 50)]
    pngs = await asyncio.gather(*jobs)
    first = pngs[0]
    # Same input in parallel threads renders the same picture: no state leaked between figures.
    assert all(p == first for p in pngs[:6])
    for p in pngs:
        decode(p)
