"""``releasegate metrics import-lighthouse REPORT.json --release NAME --cohort canary|baseline``.

Lab values go through the same ``validate_item`` as ``POST /api/v1/metrics`` and are stored with
``source = 'lab'``, so a report imported twice upserts onto the same rows (the sample ids are
stable per report, step and audit) instead of doubling the lab arm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.args import release_name
from bot.metrics.lighthouse import LighthouseError, parse_lighthouse
from bot.settings import load_settings
from gates.metrics import COHORTS, Parsed, Rejected, validate_item


def add_metrics_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``metrics import-lighthouse`` on the main ``releasegate`` parser's subparsers."""
    metrics: argparse.ArgumentParser = subparsers.add_parser("metrics", help="import metric samples")
    msub = metrics.add_subparsers(dest="metrics_command", required=True)
    p = msub.add_parser(
        "import-lighthouse",
        help="store a Lighthouse report (navigation LHR or user-flow result) as lab samples",
        description="LCP, TBT (as the lab stand-in for INP), CLS, and INP where a timespan step has it. "
        "Exit 0 imported (errored or absent metrics are listed as skipped), 2 bad input.",
    )
    p.add_argument("report", metavar="REPORT.json")
    p.add_argument("--release", required=True, metavar="NAME", type=release_name)
    p.add_argument("--cohort", required=True, choices=COHORTS)
    p.add_argument("--page", default=None, help="page path to tag the samples with (default: the report's URL)")
    p.add_argument("--region", default="lab", help="region to tag the samples with (default: lab)")
    p.add_argument(
        "--allow-unknown-release", action="store_true", help="import even if no release of that name exists yet"
    )
    return metrics


class _InputError(Exception):
    pass


def _load(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _InputError(f"{path} is not UTF-8 text, so not a Lighthouse JSON report") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(f"{path} is not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None


def metrics_main(args: argparse.Namespace) -> int:
    if args.metrics_command != "import-lighthouse":
        return 2
    try:
        report = parse_lighthouse(_load(args.report))
    except (_InputError, LighthouseError) as exc:
        print(f"releasegate: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_import(args, report))


async def _import(args: argparse.Namespace, report: Any) -> int:
    # Imported here: the CLI's other commands should not pay for the app's imports.
    from bot.app import StartupError, prepare_database
    from storage.metrics import MetricsStore

    settings = load_settings()
    try:
        engine = await prepare_database(settings.database_url)
    except StartupError as exc:
        print(f"releasegate: {exc}", file=sys.stderr)
        return 2
    try:
        store = MetricsStore(engine)
        known = None if args.allow_unknown_release else await store.known_releases([args.release])
        if known is not None and args.release not in known:
            print(
                f"releasegate: unknown release {args.release!r}: start it first, or pass --allow-unknown-release",
                file=sys.stderr,
            )
            return 2
        accepted: list[Parsed] = []
        for sample in report.samples:
            parsed = validate_item(sample.to_item(args.release, args.cohort, args.region, args.page), known)
            where = f"step {sample.step} ({sample.step_name})"
            if isinstance(parsed, Rejected):
                print(f"skipped   {where} {sample.audit}: {parsed.reason}")
                continue
            accepted.append(parsed)
            unit = "" if sample.metric == "CLS" else " ms"
            proxy = f", {sample.audit} standing in for {sample.metric}" if sample.proxy else ""
            print(f"imported  {where} {sample.metric} = {sample.value:g}{unit}{proxy}")
        for skip in report.skipped:
            print(f"skipped   step {skip.step} ({skip.step_name}) {skip.audit}: {skip.reason}")
        stored = await store.insert(accepted, datetime.now(UTC), source="lab")
        skipped = len(report.samples) - len(accepted) + len(report.skipped)
        print(f"{stored} lab sample(s) stored for release {args.release} ({args.cohort}); {skipped} skipped")
    finally:
        await engine.dispose()
    return 0
