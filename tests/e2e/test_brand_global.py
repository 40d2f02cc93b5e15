"""Brand guardrails run in Global: an off-brand dominant colour blocks the release."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from bot.drill.samples import encode, write_bundle
from tests.e2e.harness import PRODUCT, REVIEWER, SRE, Env, make_policy

BRAND = (228, 87, 46)
DRIFTED = (240, 96, 40)  # what a generator tends to produce: close to the brand orange, but off


def _delta_e(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    lab = rgb2lab(np.array([[a, b]], dtype=np.float64) / 255.0)
    return float(deltaE_ciede2000(lab[0, 0], lab[0, 1]))


async def test_near_miss_brand_colour_fails_global_and_takes_traffic_away(env: Env) -> None:
    de = _delta_e(BRAND, DRIFTED)
    tolerance = de / 2  # so the drift is a near miss: outside tolerance, within 3x of it
    await env.shutdown()
    env.policy = make_policy(
        global_gates=(
            f"{{brand: {{max_critical: 0, colors: [{{name: Orange, hex: '#{BRAND[0]:02x}{BRAND[1]:02x}{BRAND[2]:02x}', "
            f"tolerance: {tolerance:.3f}}}]}}}}"
        )
    )
    await env.boot()
    png = encode(Image.new("RGB", (200, 120), DRIFTED), "PNG")
    write_bundle(
        env.releases,
        "promo",
        title="Autumn promo",
        files={"a.png": png},
        images=[{"id": "a", "candidate": "a.png", "alt": "Orange promo banner"}],
    )
    await env.start("promo")
    await env.press(REVIEWER, env.approval_message("promo", "Preview"), "approve")
    await env.press(SRE, env.approval_message("promo", "Canary"), "approve")
    text = env.thread_text("promo")
    assert "Global rolled back" in text and "brand" in text
    status, body = await env.api("/api/v1/releases/promo")
    assert status == 200 and body["state"] == "rolled_back" and body["phase"] == "global"
    brand = next(g for g in body["phases"][-1]["gates"] if g["gate"] == "brand")
    assert brand["status"] == "fail"
    assert any(f["rule"] == "brand.near_miss_color" and f["severity"] == "critical" for f in brand["findings"])
    assert PRODUCT
