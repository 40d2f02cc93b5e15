"""``releasegate gate preview``: exit codes, table, JSON contract, JUnit XML, thumbnails, workers."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from PIL import Image

from bench.visual import photo_like
from bot.cli.gate import add_gate_parser, gate_preview_main

POLICY = """\
phases:
  preview:
    owners: {primary: [U0REVIEWER]}
    gates:
      visual_diff: {max_changed_fraction: 0.02, min_ssim: 0.95, max_delta_e_p95: 2.0}
  canary:
    owners: {primary: [U0SRE00001]}
  global:
    owners: {primary: [U0PRODUCT1]}
"""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="releasegate")
    add_gate_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def make_bundle(root: Path, *, changed: bool) -> Path:
    """Three small pairs: identical, a tiny edit, and (optionally) a big change."""
    images = []
    for i in range(3):
        base = photo_like(96, 64, seed=i)
        cand = base.copy()
        if i == 1:
            cand[10:12, 10:12] = 0
        if i == 2 and changed:
            cand[:, :48] = 255 - cand[:, :48]
        (root / "b").mkdir(parents=True, exist_ok=True)
        (root / "c").mkdir(parents=True, exist_ok=True)
        Image.fromarray(base).save(root / "b" / f"{i}.png")
        Image.fromarray(cand).save(root / "c" / f"{i}.png")
        images.append(
            {
                "id": f"img-{i}",
                "candidate": f"c/{i}.png",
                "baseline": f"b/{i}.png",
                "alt": f"Test photo number {i} of a summer beach",
            }
        )
    (root / "release.yml").write_text(yaml.safe_dump({"title": "Test release", "images": images}))
    return root


@pytest.fixture()
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "policy.yml"
    p.write_text(POLICY)
    return p


def test_pass_exit_0_with_table(tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = make_bundle(tmp_path / "rel", changed=False)
    code = gate_preview_main(parse(["gate", "preview", str(bundle), "--policy", str(policy), "--workers", "1"]))
    out = capsys.readouterr().out
    assert code == 0
    assert "IMAGE" in out and "img-0" in out and "pixel-identical" in out
    assert "3 images, 3 checks: 3 pass — PASS" in out


def test_fail_exit_1_json_junit_thumbs(tmp_path: Path, policy: Path) -> None:
    bundle = make_bundle(tmp_path / "rel", changed=True)
    out_json, out_xml, thumbs = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "thumbs"
    code = gate_preview_main(
        parse(
            [
                "gate",
                "preview",
                str(bundle),
                "--policy",
                str(policy),
                "--json",
                str(out_json),
                "--junit",
                str(out_xml),
                "--thumbs",
                str(thumbs),
                "--workers",
                "2",
            ]
        )
    )
    assert code == 1
    report = json.loads(out_json.read_text())
    assert report["status"] == "fail"
    by_id = {i["id"]: i for i in report["images"]}
    vd = by_id["img-2"]["gates"]["visual_diff"]
    assert vd["status"] == "fail"
    assert vd["changed_fraction"] > 0.3 and vd["ssim"] < 0.95 and vd["delta_e_p95"] > 2
    assert by_id["img-0"]["gates"]["visual_diff"]["changed_fraction"] == 0.0
    assert by_id["img-1"]["gates"]["visual_diff"]["boxes"][0]["width"] == 2
    # JUnit: one case per image × gate, the failure carries the summary.
    suite = ET.parse(out_xml).getroot()
    cases = suite.findall(".//testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("preview.img-0", "visual_diff"),
        ("preview.img-1", "visual_diff"),
        ("preview.img-2", "visual_diff"),
    ]
    failure = cases[2].find("failure")
    assert failure is not None and "of pixels changed" in (failure.get("message") or "")
    assert suite.get("failures") == "1" and suite.get("tests") == "3"
    # Thumbnails: one per image and a contact sheet, worst first.
    assert sorted(p.name for p in thumbs.iterdir()) == [
        "contact-sheet.png",
        "img-0.diff.png",
        "img-1.diff.png",
        "img-2.diff.png",
    ]
    assert Image.open(thumbs / "img-2.diff.png").width <= 480
    assert by_id["img-2"]["thumbnail"].endswith("img-2.diff.png")


def test_workers_do_not_change_results(tmp_path: Path, policy: Path) -> None:
    bundle = make_bundle(tmp_path / "rel", changed=True)
    outs = []
    for workers in ("1", "2"):
        path = tmp_path / f"{workers}.json"
        gate_preview_main(
            parse(["gate", "preview", str(bundle), "--policy", str(policy), "--json", str(path), "--workers", workers])
        )
        outs.append(json.loads(path.read_text()))
    assert outs[0] == outs[1]


def test_the_cli_as_its_own_process_gives_the_same_report_with_a_pool(tmp_path: Path, policy: Path) -> None:
    # A single-threaded `releasegate gate preview` forks its workers (the bot, which runs
    # threads, uses a forkserver instead); both must judge exactly as one process does.
    import subprocess
    import sys

    bundle = make_bundle(tmp_path / "rel", changed=True)
    outs = []
    for workers in ("1", "2"):
        path = tmp_path / f"p{workers}.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot.cli.gate",
                "gate",
                "preview",
                str(bundle),
                "--policy",
                str(policy),
                "--json",
                str(path),
                "--workers",
                workers,
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode in (0, 1), done.stderr
        outs.append(json.loads(path.read_text()))
    assert outs[0] == outs[1] and len(outs[0]["images"]) == 3


def test_missing_release_yml_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert gate_preview_main(parse(["gate", "preview", str(tmp_path / "empty")])) == 2
    assert "release.yml: not found" in capsys.readouterr().err


def test_malformed_release_yml_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "release.yml").write_text("title: x\nimages:\n  - id: a\n    candidate: ../../etc/passwd\n")
    assert gate_preview_main(parse(["gate", "preview", str(tmp_path)])) == 2
    assert "would leave the bundle" in capsys.readouterr().err


def test_malformed_policy_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = make_bundle(tmp_path / "rel", changed=False)
    bad = tmp_path / "bad.yml"
    bad.write_text(POLICY.replace("max_delta_e_p95", "max_delta_e_p59"))
    assert gate_preview_main(parse(["gate", "preview", str(bundle), "--policy", str(bad)])) == 2
    assert "unknown key" in capsys.readouterr().err
    assert gate_preview_main(parse(["gate", "preview", str(bundle), "--policy", str(tmp_path / "no.yml")])) == 2


def test_default_policy_when_file_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = make_bundle(tmp_path / "rel", changed=False)
    monkeypatch.setenv("RELEASEGATE_POLICY", str(tmp_path / "absent.yml"))
    code = gate_preview_main(parse(["gate", "preview", str(bundle), "--workers", "1"]))
    out = capsys.readouterr().out
    assert code == 0, out
    for gate in ("image_budget", "visual_diff", "accessibility"):
        assert gate in out


def test_progress_in_ci_logs(tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "many"
    pic = photo_like(32, 32, seed=1)
    (root / "i").mkdir(parents=True)
    Image.fromarray(pic).save(root / "i" / "a.png")
    images = [{"id": f"n{i}", "candidate": "i/a.png", "baseline": "i/a.png"} for i in range(20)]
    (root / "release.yml").write_text(yaml.safe_dump({"title": "many", "images": images}))
    assert gate_preview_main(parse(["gate", "preview", str(root), "--policy", str(policy), "--workers", "1"])) == 0
    err = capsys.readouterr().err
    assert "gate preview: 5/20 images" in err and "gate preview: 20/20 images" in err


def test_module_entry_point(tmp_path: Path, policy: Path) -> None:
    import subprocess
    import sys

    bundle = make_bundle(tmp_path / "rel", changed=False)
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli.gate", "gate", "preview", str(bundle), "--policy", str(policy)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout


def test_slack_uploads_post_only_major_changes_inline(tmp_path: Path, policy: Path) -> None:
    from bot.preview.runner import run_preview
    from gates.bundle import parse_bundle
    from gates.policy import parse_policy

    root = make_bundle(tmp_path / "rel", changed=True)
    bundle = parse_bundle((root / "release.yml").read_text())
    gates = parse_policy(policy.read_text()).phases.preview.gates
    report = run_preview(root, bundle, gates, thumbs_dir=tmp_path / "t")
    uploads = report.slack_uploads()
    assert [u["filename"] for u in uploads] == ["contact-sheet.png", "img-2.diff.png"]
    assert all(Path(u["file"]).is_file() for u in uploads)
    assert uploads[1]["title"].startswith("img-2: ")


def test_a_crash_on_one_image_is_inconclusive_not_fatal(
    tmp_path: Path, policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.preview.runner as runner

    real = runner._evaluate_unsafe

    def flaky(root: Path, spec: object, gates: object, thumbs: object, together: bool) -> object:
        if getattr(spec, "id", "") == "img-1":
            raise MemoryError("simulated")
        return real(root, spec, gates, thumbs, together)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_evaluate_unsafe", flaky)
    bundle = make_bundle(tmp_path / "rel", changed=False)
    out = tmp_path / "r.json"
    code = gate_preview_main(
        parse(["gate", "preview", str(bundle), "--policy", str(policy), "--workers", "1", "--json", str(out)])
    )
    assert code == 1
    img1 = next(i for i in json.loads(out.read_text())["images"] if i["id"] == "img-1")
    assert img1["gates"]["preview"]["status"] == "inconclusive"
    assert "MemoryError: simulated" in img1["gates"]["preview"]["summary"]


def test_byte_identical_pair_is_decoded_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.preview.runner as runner
    from gates.bundle import BundleImage
    from gates.policy import PreviewGates, VisualDiffConfig

    Image.fromarray(photo_like(64, 48, seed=1)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())
    calls: list[str] = []
    real = runner.decode_image

    def counting(root: Path, rel: str, limit: int, *, pixels: bool = True) -> object:
        calls.append(rel)
        return real(root, rel, limit, pixels=pixels)

    monkeypatch.setattr(runner, "decode_image", counting)
    spec = BundleImage(id="x", candidate="a.png", baseline="b.png")
    subject, results = runner.evaluate_one(tmp_path, spec, PreviewGates(visual_diff=VisualDiffConfig()))
    assert calls == ["a.png"]
    assert subject.baseline is not None and subject.baseline.path == "b.png"
    assert results[0].values["identical"] is True
