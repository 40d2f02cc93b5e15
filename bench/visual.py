"""Benchmark of the visual_diff gate against odiff and the naive scikit-image path.

    python -m bench.visual [--sizes 1920x1080,4000x3000] [--repeat 5] [--bundle 20]

Generates photo-like pairs (smooth colour fields, texture, hard-edged shapes and grain) as
PNG: a local change plus a JPEG q90 re-encode, a local change only, and an identical copy; then
prints one table. odiff comes from npm ``odiff-bin``, installed into a cache directory
(``$RELEASEGATE_BENCH_CACHE`` or ``~/.cache/releasegate-bench``) on first use. Numbers are
medians of ``--repeat`` runs; memory is the peak RSS growth of a fresh child process.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

PAIRS = ("reencode+local", "local", "identical")


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """An RGB uint8 image with the statistics that matter for diffs: gradients, edges, grain."""
    rng = np.random.default_rng(seed)

    def field(scale: int, amp: float) -> np.ndarray:
        small = rng.random((max(2, height // scale), max(2, width // scale), 3)) * 255
        im = Image.fromarray(small.astype(np.uint8), "RGB").resize((width, height), Image.Resampling.BICUBIC)
        return (np.asarray(im, dtype=np.float32) - 127.5) * amp

    img = 127.5 + field(max(width, height) // 6, 0.9) + field(48, 0.35) + field(6, 0.12)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(canvas)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1 = x0 + int(rng.integers(width // 30, width // 6))
        y1 = y0 + int(rng.integers(height // 30, height // 6))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    out = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 3.0, (height, width, 3)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def local_change(rgb: np.ndarray, seed: int = 1) -> np.ndarray:
    """A product shot swapped for another: a filled panel with text over ~1% of the frame."""
    h, w = rgb.shape[:2]
    im = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(im)
    pw, ph = w // 10, h // 10
    x0, y0 = w // 2, h // 3
    draw.rectangle((x0, y0, x0 + pw, y0 + ph), fill=(200, 40, 60))
    draw.text((x0 + 10, y0 + 10), "NEW -20%", fill=(255, 255, 255))
    return np.asarray(im, dtype=np.uint8)


def jpeg_q90(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=90)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8)


def make_pair(kind: str, width: int, height: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, candidate) RGB arrays for one of PAIRS."""
    base = photo_like(width, height, seed)
    if kind == "identical":
        return base, base.copy()
    cand = local_change(base)
    if kind == "reencode+local":
        cand = jpeg_q90(cand)
    return base, cand


def write_png(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, "PNG", compress_level=1)


# --------------------------------------------------------------------------------------------
# Measurement

REPO = Path(__file__).resolve().parents[1]
ODIFF_PACKAGE = "odiff-bin"
MAX_PIXELS = 50_000_000


def cache_dir() -> Path:
    return Path(os.environ.get("RELEASEGATE_BENCH_CACHE") or Path.home() / ".cache" / "releasegate-bench")


def ensure_odiff() -> Path:
    """The native odiff binary from npm ``odiff-bin``, installed into the cache on first use.

    The native binary is timed, not the node wrapper in node_modules/.bin, whose node start-up
    (~40 ms) is not odiff's cost.
    """
    root = cache_dir()
    found = sorted(root.glob("node_modules/@odiff/*/odiff"))
    if not found:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("bench: npm is needed to install odiff-bin")
        root.mkdir(parents=True, exist_ok=True)
        print(f"bench: installing {ODIFF_PACKAGE} into {root} …", file=sys.stderr)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(root), ODIFF_PACKAGE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        found = sorted(root.glob("node_modules/@odiff/*/odiff"))
    if not found:
        raise SystemExit(f"bench: {ODIFF_PACKAGE} installed no native binary under {root}")
    return found[0]


def _cpu() -> float:
    """CPU seconds of this process (all threads) plus its finished children."""
    own = time.process_time()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + kids.ru_utime + kids.ru_stime


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(median wall seconds, median CPU seconds, last result); one untimed warm-up run first.

    CPU time is reported beside wall time because the machine may be shared: other work
    stretches wall time but not the CPU a run itself needs.
    """
    result = fn()
    walls, cpus = [], []
    for _ in range(repeat):
        c0, w0 = _cpu(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(_cpu() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def run_odiff(odiff: Path, base: Path, cand: Path) -> float:
    """odiff's changed fraction (anti-aliased pixels ignored, as ours), no diff image written."""
    proc = subprocess.run(
        [str(odiff), str(base), str(cand), "--parsable-stdout", "--antialiasing"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 22):
        raise RuntimeError(f"odiff failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    out = proc.stdout.strip()
    if not out:
        return 0.0
    count = int(out.split(";")[0])
    with Image.open(base) as im:
        w, h = im.size
    return count / (w * h)


def _decode_pair(root: Path, base: str, cand: str) -> tuple[np.ndarray, np.ndarray]:
    from bot.preview.images import decode_pair

    (_, cpx), (_, bpx) = decode_pair(root, cand, base, MAX_PIXELS)
    assert bpx is not None and cpx is not None
    return bpx, cpx


def ours_ratio(root: Path, base: str, cand: str) -> float:
    """Decode + changed fraction exactly as the gate does it, nothing else."""
    from gates.visual.yiq import changed_pixels

    bpx, cpx = _decode_pair(root, base, cand)
    pb = bpx.view(np.uint32)[..., 0]
    pc = cpx.view(np.uint32)[..., 0]
    differ = pb != pc
    if not differ.any():  # the gate's exact-equality fast path
        return 0.0
    changed, _aa = changed_pixels(cpx, bpx, 0.1, differ.any(axis=1))
    return float(changed.mean())


def ours_full(root: Path, base: str, cand: str) -> dict[str, Any]:
    from bot.artifacts.thumbnails import diff_thumbnail
    from bot.preview.images import decode_pair
    from gates.bundle import BundleImage
    from gates.policy import VisualDiffConfig
    from gates.subject import ImageSubject
    from gates.visual.gate import VisualDiffGate

    (cf, cpx), (bf, bpx) = decode_pair(root, cand, base, MAX_PIXELS)
    assert bpx is not None and cpx is not None
    spec = BundleImage(id="bench", candidate=cand, baseline=base)
    subject = ImageSubject(spec=spec, candidate=cf, baseline=bf, candidate_pixels=cpx, baseline_pixels=bpx)
    result, comparison = VisualDiffGate().evaluate_detailed(subject, VisualDiffConfig())
    diff_thumbnail(bpx, cpx, comparison)
    return dict(result.values)


def naive_full(root: Path, base: str, cand: str) -> dict[str, float]:
    from skimage.color import deltaE_ciede2000, rgb2gray, rgb2lab
    from skimage.metrics import structural_similarity

    from bot.preview.images import decode_image

    _, bpx = decode_image(root, base, MAX_PIXELS)
    _, cpx = decode_image(root, cand, MAX_PIXELS)
    assert bpx is not None and cpx is not None
    b, c = bpx[..., :3], cpx[..., :3]
    ssim = structural_similarity(rgb2gray(b), rgb2gray(c), data_range=1.0)
    de = deltaE_ciede2000(rgb2lab(b), rgb2lab(c))
    return {"ssim": float(ssim), "delta_e_p95": float(np.percentile(de, 95))}


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def memory_child(kind: str, root: str, base: str, cand: str) -> None:
    """Run in a fresh process: peak RSS growth of one full comparison, imports excluded."""
    import gates.visual.gate  # noqa: F401

    if kind == "naive":
        import skimage.color
        import skimage.metrics  # noqa: F401
    before = _rss_kb("VmRSS")
    (ours_full if kind == "ours" else naive_full)(Path(root), base, cand)
    print(json.dumps({"extra_mb": (_rss_kb("VmHWM") - before) / 1024}))


def peak_extra_mb(kind: str, root: Path, base: str, cand: str) -> float:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.visual", "--memory-child", kind, str(root), base, cand],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["extra_mb"])


def _ms(t: tuple[float, float, Any]) -> str:
    return f"{1000 * t[0]:.0f}/{1000 * t[1]:.0f}"


def _x(num: tuple[float, float, Any], den: tuple[float, float, Any]) -> str:
    return f"{num[0] / den[0]:.2f}× ({num[1] / den[1]:.2f}×)"


def write_bundle(root: Path, pairs: dict[str, tuple[str, str]], count: int) -> None:
    import yaml

    kinds = list(pairs)
    images = []
    for i in range(count):
        base, cand = pairs[kinds[i % len(kinds)]]
        images.append({"id": f"img-{i:02d}", "candidate": cand, "baseline": base, "alt": f"Benchmark image number {i}"})
    (root / "release.yml").write_text(yaml.safe_dump({"title": "bench", "images": images}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1920x1080,4000x3000")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (median)")
    p.add_argument("--naive-repeat", type=int, default=2, help="timed runs of the slow scikit-image path")
    p.add_argument("--bundle", type=int, default=20, help="FHD pairs in the gate preview bundle (0: skip)")
    p.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    odiff = ensure_odiff()
    version = subprocess.run([str(odiff), "--version"], capture_output=True, text=True, check=False).stdout
    print(f"odiff: {version.strip().splitlines()[0] if version.strip() else odiff}; cpus: {os.cpu_count()}")
    rows: list[list[str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="releasegate-bench-") as tmp:
        work = Path(tmp)
        fhd_pairs: dict[str, tuple[str, str]] = {}
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.lower().split("x"))
            pairs: dict[str, tuple[str, str]] = {}
            for kind in PAIRS:
                base_rgb, cand_rgb = make_pair(kind, w, h)
                b, c = f"{size}/{kind}-base.png", f"{size}/{kind}-cand.png"
                write_png(base_rgb, work / b)
                write_png(cand_rgb, work / c)
                pairs[kind] = (b, c)
            if (w, h) == (1920, 1080):
                fhd_pairs = pairs
            dec = median_time(lambda p=pairs["local"]: _decode_pair(work, *p), args.repeat)
            notes.append(f"{size}: decoding one PNG pair alone (Pillow) takes {_ms(dec)} ms wall/CPU")
            for kind, (b, c) in pairs.items():
                od = median_time(lambda b=b, c=c: run_odiff(odiff, work / b, work / c), args.repeat)
                ratio = median_time(lambda b=b, c=c: ours_ratio(work, b, c), args.repeat)
                full = median_time(lambda b=b, c=c: ours_full(work, b, c), args.repeat)
                naive = median_time(lambda b=b, c=c: naive_full(work, b, c), args.naive_repeat)
                f_odiff, f_ours, values = od[2], ratio[2], full[2]
                rows.append(
                    [
                        size,
                        kind,
                        f"{100 * f_ours:.3f}",
                        f"{100 * f_odiff:.3f}",
                        f"{100 * abs(f_ours - f_odiff):.3f}",
                        _ms(ratio),
                        _ms(od),
                        _x(ratio, od),
                        _ms(full),
                        _ms(naive),
                        _x(naive, full),
                        f"{values['ssim']:.4f}",
                        f"{values['delta_e_p95']:.2f}",
                    ]
                )
                print("  ".join(rows[-1]), file=sys.stderr)
            if w * h >= 12_000_000:
                b, c = pairs["reencode+local"]
                ours_mb = peak_extra_mb("ours", work, b, c)
                naive_mb = peak_extra_mb("naive", work, b, c)
                notes.append(
                    f"peak extra memory at {size} (re-encode + local change, decode included): "
                    f"full gate {ours_mb:.0f} MB, naive scikit-image {naive_mb:.0f} MB"
                )
        if args.bundle and fhd_pairs:
            bundle = work / "bundle"
            bundle.mkdir()
            for b, c in fhd_pairs.values():
                for rel in (b, c):
                    (bundle / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(work / rel, bundle / rel)
            write_bundle(bundle, fhd_pairs, args.bundle)
            cmd = [
                sys.executable,
                "-m",
                "bot.cli.gate",
                "gate",
                "preview",
                str(bundle),
                "--no-progress",
                "--json",
                str(work / "report.json"),
            ]
            env = {**os.environ, "RELEASEGATE_POLICY": str(work / "no-policy.yml")}

            def run_cli(extra: tuple[str, ...] = ()) -> None:
                subprocess.run([*cmd, *extra], cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=False)

            def run_odiffs() -> None:
                kinds = list(fhd_pairs)
                for i in range(args.bundle):
                    b, c = fhd_pairs[kinds[i % len(kinds)]]
                    run_odiff(odiff, bundle / b, bundle / c)

            reps = max(1, min(3, args.repeat))
            cli = median_time(run_cli, reps)
            # Pool workers are forkserver children, invisible to RUSAGE_CHILDREN: take the CPU
            # figure from a one-process run.
            serial = median_time(lambda: run_cli(("--workers", "1")), reps)
            ods = median_time(run_odiffs, reps)
            notes.append(
                f"gate preview over {args.bundle} FHD pairs (whole process, default policy): "
                f"{cli[0]:.2f} s wall with {os.cpu_count()} workers, {serial[0]:.2f} s wall / "
                f"{serial[1]:.2f} s CPU with 1; {args.bundle} odiff runs one after another: "
                f"{ods[0]:.2f} s wall / {ods[1]:.2f} s CPU; ratio {cli[0] / ods[0]:.2f}× wall, "
                f"{serial[1] / ods[1]:.2f}× CPU"
            )

    header = [
        "size",
        "pair",
        "ours %",
        "odiff %",
        "Δ pts",
        "decode+ratio ms",
        "odiff ms",
        "vs odiff",
        "full gate ms",
        "naive ms",
        "speed-up",
        "SSIM",
        "ΔE p95",
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(wd) for h, wd in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(v.ljust(wd) for v, wd in zip(r, widths, strict=True)))
    print("times: median wall ms / median CPU ms; ratios: wall (CPU)")
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {f.read().split()[0]}")
    for n in notes:
        print(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
