"""Generated sample bundles: photo-like images with controlled changes, for demo and tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SAMPLE_POLICY = """\
phases:
  preview:
    owners: {{primary: [{reviewer}], backup: [{backup}]}}
    sla: {sla}
    gates:
      image_budget: {{max_bytes: 300000, formats: [avif, webp, jpeg, png]}}
      visual_diff:  {{max_changed_fraction: 0.02, min_ssim: 0.95, max_delta_e_p95: 2.0}}
      accessibility: {{require_alt: true, max_alt_length: 150}}
      sensitivity:  {{max_findings: 0}}
  canary:
    owners: {{primary: [{sre}], backup: [{sre_group}]}}
    sla: {sla}
    traffic: {{steps: [5, 10], every: {every}}}
    observe: {observe}
    min_samples: {min_samples}
    gates: {canary_gates}
  global:
    owners: {{primary: [{product}], backup: [{product_backup}]}}
    sla: {sla}
    traffic: {{steps: [25, 50, 100], every: {every}, regions: {{eu: 1, us: 1}}}}
    gates: {global_gates}
allow_self_approval: false
"""

CANARY_GATES = (
    "{lcp_p75: {max_increase_ms: 150}, inp_p75: {max_increase_ms: 50}, error_budget: {max_rate: 0.005}, "
    "cache_hit: {min_rate: 0.90}}"
)
GLOBAL_GATES = "{regional_error_rate: {max_rate: 0.01}}"


def sample_policy(**params: str) -> str:
    """The sample policy with owners and durations filled in (e.g. seconds for tests and the demo)."""
    defaults = {
        "sla": "15m",
        "every": "5m",
        "observe": "30m",
        "min_samples": "1000",
        "canary_gates": CANARY_GATES,
        "global_gates": GLOBAL_GATES,
    }
    return SAMPLE_POLICY.format(**(defaults | params))


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth, photo-like scene (sky gradient, sun, hills, texture) rather than flat colour."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None]
    x = np.linspace(0, 1, width)[None, :]
    r = 120 + 100 * y + 20 * np.sin(6 * x + seed)
    g = 160 + 60 * y - 30 * x
    b = 230 - 120 * y
    img = np.stack(np.broadcast_arrays(r, g, b), axis=-1)
    img += rng.normal(0, 4, img.shape)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.ellipse([width * 0.65, height * 0.1, width * 0.8, height * 0.1 + width * 0.15], fill=(255, 214, 120))
    d.polygon(
        [
            (0, height),
            (width * 0.3, height * 0.55),
            (width * 0.7, height),
        ],
        fill=(70, 110, 60),
    )
    d.polygon(
        [(width * 0.4, height), (width * 0.8, height * 0.6), (width, height * 0.8), (width, height)], fill=(50, 90, 50)
    )
    return im.filter(ImageFilter.GaussianBlur(1))


def with_local_change(
    im: Image.Image, box: tuple[float, float, float, float], color: tuple[int, int, int]
) -> Image.Image:
    out = im.copy()
    w, h = out.size
    ImageDraw.Draw(out).rectangle([box[0] * w, box[1] * h, box[2] * w, box[3] * h], fill=color)
    return out


def encode(im: Image.Image, fmt: str, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=quality) if fmt in ("WEBP", "JPEG") else im.save(buf, format=fmt)
    return buf.getvalue()


def write_bundle(
    root: Path, name: str, *, title: str, images: list[dict[str, object]], files: dict[str, bytes]
) -> Path:
    """Write ``root/name/release.yml`` and its files; returns the bundle folder."""
    import yaml

    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (folder / "release.yml").write_text(yaml.safe_dump({"title": title, "images": images}, sort_keys=False))
    return folder


def summer_hero(root: Path, name: str = "summer-hero", *, size: tuple[int, int] = (640, 360)) -> Path:
    """Three images: one unchanged re-encode, one with a small local change, one brand-new."""
    w, h = size
    files: dict[str, bytes] = {}
    images: list[dict[str, object]] = []
    for i, (img_id, alt) in enumerate(
        [
            ("hero-desktop", "Family walking on a beach at sunset"),
            ("hero-mobile", "Two friends building a sandcastle"),
        ]
    ):
        base = photo(w, h, seed=i)
        cand = base if i == 0 else with_local_change(base, (0.05, 0.05, 0.12, 0.1), (250, 250, 250))
        files[f"baseline/{img_id}.webp"] = encode(base, "WEBP", 92)
        files[f"candidate/{img_id}.webp"] = encode(cand, "WEBP", 92)
        images.append(
            {
                "id": img_id,
                "candidate": f"candidate/{img_id}.webp",
                "baseline": f"baseline/{img_id}.webp",
                "alt": alt,
                "page": "/summer",
            }
        )
    files["candidate/promo-tile.png"] = encode(photo(w // 2, h // 2, seed=7), "PNG")
    images.append(
        {
            "id": "promo-tile",
            "candidate": "candidate/promo-tile.png",
            "alt": "Beach towel and sunglasses on sand",
            "page": "/summer",
        }
    )
    return write_bundle(root, name, title="Summer campaign hero images", images=images, files=files)
