"""``releasegate gate preview <bundle-dir>``: the Preview gates for CI, without Slack.

Exit 0 when every gate passes (warnings allowed), 1 when a gate failed or could not decide,
2 on bad input (missing or malformed release.yml or policy). ``--json`` writes the DESIGN.md
report, ``--junit`` one test case per image × gate so CI systems and GitHub Checks show each
natively, ``--thumbs`` diff thumbnails and a contact sheet.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from bot.policy_file import inline_terms
from bot.preview.runner import PreviewReport, default_workers, run_preview
from gates.bundle import Bundle, BundleError, parse_bundle
from gates.policy import Policy, PolicyError, default_policy, parse_policy
from gates.result import GateResult, Status

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
# Below this many images a run is over before a bar is worth drawing in a CI log.
PROGRESS_MIN_IMAGES = 20


def add_gate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gate preview`` on the main ``releasegate`` parser's subparsers."""
    gate = subparsers.add_parser("gate", help="run a phase's gates locally, for CI")
    gsub = gate.add_subparsers(dest="gate_command", required=True)
    p: argparse.ArgumentParser = gsub.add_parser(
        "preview",
        help="run the Preview gates over a release bundle",
        description="Exit 0 pass, 1 a gate failed, 2 bad input.",
    )
    p.add_argument("bundle", metavar="BUNDLE_DIR", help="folder holding release.yml (or the release.yml itself)")
    p.add_argument("--json", metavar="PATH", help="write the JSON report here ('-' for stdout)")
    p.add_argument("--junit", metavar="PATH", help="write JUnit XML (one test case per image × gate)")
    p.add_argument("--thumbs", metavar="DIR", help="write diff thumbnails and contact-sheet.png here")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="processes to use (default: all CPU cores)")
    p.add_argument(
        "--policy",
        metavar="PATH",
        default=None,
        help="policy.yml (default: $RELEASEGATE_POLICY or ./policy.yml; built-in defaults if absent)",
    )
    p.add_argument("--no-progress", action="store_true", help="never draw the progress bar")
    return p


class BadInput(Exception):
    """release.yml or the policy cannot be used; exit 2 with this message."""


def load_bundle(path: Path) -> tuple[Path, Bundle]:
    """(bundle root, parsed release.yml) from a folder or the release.yml inside it."""
    release = path if path.is_file() else path / "release.yml"
    if not path.exists():
        raise BadInput(f"{path}: no such folder")
    if not release.is_file():
        raise BadInput(f"{release}: not found (a bundle is a folder with a release.yml)")
    try:
        text = release.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{release}: cannot read ({exc})") from None
    try:
        return release.parent, parse_bundle(text, source=str(release))
    except BundleError as exc:
        raise BadInput(str(exc)) from None


def load_policy(explicit: str | None) -> Policy:
    """The policy named by --policy (must exist), else $RELEASEGATE_POLICY / ./policy.yml if it
    exists, else the built-in defaults (DESIGN.md: gate preview runs without a policy file)."""
    path = Path(explicit or os.environ.get("RELEASEGATE_POLICY") or "policy.yml")
    if not path.exists():
        if explicit:
            raise BadInput(f"--policy {path}: not found")
        return default_policy()
    try:
        return inline_terms(parse_policy(path.read_text(encoding="utf-8"), source=str(path)), path.parent)
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read ({exc})") from None
    except PolicyError as exc:
        raise BadInput(str(exc)) from None


class ProgressBar:
    """A bar redrawn in place on a terminal; in a CI log, a line at each quarter."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.enabled = enabled and (self.tty or total >= PROGRESS_MIN_IMAGES)
        self.started = time.monotonic()
        self._last_quarter = 0

    def __call__(self, done: int, total: int, image_id: str) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            eta = elapsed / done * (total - done) if done else 0.0
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {elapsed:5.1f}s"
                f" eta {eta:4.0f}s {image_id[:30]:<30}"
            )
            if done == total:
                self.stream.write("\n")
            self.stream.flush()
            return
        quarter = 4 * done // max(total, 1)
        if quarter > self._last_quarter:
            self._last_quarter = quarter
            self.stream.write(f"gate preview: {done}/{total} images ({elapsed:.1f}s)\n")
            self.stream.flush()


_MARK = {Status.PASS: "pass", Status.WARN: "WARN", Status.INCONCLUSIVE: "INCONCLUSIVE", Status.FAIL: "FAIL"}


def render_table(report: PreviewReport) -> str:
    rows = [("IMAGE", "GATE", "STATUS", "SUMMARY")]
    for r in report.results:
        rows.append((r.image_id or "(release)", r.gate, _MARK[r.status], r.summary))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c:<{w2}}  {d}" for a, b, c, d in rows]
    counts = Counter(r.status for r in report.results)
    verdict = "PASS" if report.status in (Status.PASS, Status.WARN) else "FAIL"
    tally = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    lines.append("")
    lines.append(f"{len(report.image_ids)} images, {len(report.results)} checks: {tally} — {verdict}")
    return "\n".join(lines)


def _case(suite: ET.Element, r: GateResult) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"preview.{r.image_id or 'release'}", name=r.gate, time="0")
    detail = json.dumps(dict(r.values), sort_keys=True, default=str)
    if r.status is Status.FAIL:
        ET.SubElement(case, "failure", message=r.summary, type="gate_failed").text = detail
    elif r.status is Status.INCONCLUSIVE:
        ET.SubElement(case, "error", message=r.summary, type="inconclusive").text = detail
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"{r.status.value}: {r.summary}"


def junit_xml(report: PreviewReport, title: str, elapsed: float) -> bytes:
    """JUnit XML: one suite per bundle, one case per image × gate (release-wide gates too)."""
    counts = Counter(r.status for r in report.results)
    attrs = {
        "name": f"releasegate preview: {title}",
        "tests": str(len(report.results)),
        "failures": str(counts[Status.FAIL]),
        "errors": str(counts[Status.INCONCLUSIVE]),
        "skipped": "0",
        "time": f"{elapsed:.3f}",
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", attrs)
    for r in report.results:
        _case(suite, r)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def gate_preview_main(args: argparse.Namespace) -> int:
    try:
        root, bundle = load_bundle(Path(args.bundle))
        policy = load_policy(getattr(args, "policy", None))
    except BadInput as exc:
        print(f"releasegate gate preview: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    workers = args.workers if getattr(args, "workers", None) else default_workers()
    if workers < 1:
        print("releasegate gate preview: --workers must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    thumbs = Path(args.thumbs) if getattr(args, "thumbs", None) else None
    bar = ProgressBar(len(bundle.images), sys.stderr, enabled=not getattr(args, "no_progress", False))
    started = time.monotonic()
    report = run_preview(root, bundle, policy.phases.preview.gates, progress=bar, workers=workers, thumbs_dir=thumbs)
    elapsed = time.monotonic() - started

    # With --json - the JSON owns stdout, so the table moves to stderr.
    print(render_table(report), file=sys.stderr if getattr(args, "json", None) == "-" else sys.stdout)
    if getattr(args, "json", None):
        payload = json.dumps(report.to_json(), indent=2, ensure_ascii=False, default=str)
        if args.json == "-":
            print(payload)
        else:
            Path(args.json).write_text(payload + "\n", encoding="utf-8")
    if getattr(args, "junit", None):
        Path(args.junit).write_bytes(junit_xml(report, bundle.title, elapsed))
    if report.contact_sheet is not None:
        print(f"thumbnails: {thumbs} (contact sheet {report.contact_sheet.name})")
    return EXIT_PASS if report.status in (Status.PASS, Status.WARN) else EXIT_FAIL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="releasegate")
    add_gate_parser(parser.add_subparsers(dest="command", required=True))
    return gate_preview_main(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
