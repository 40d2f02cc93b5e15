"""`releasegate` command line: serve, demo, gate preview, keys, audit verify/export, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from bot.cli.args import release_name
from bot.logs import FORMATS, LEVELS, configure
from bot.settings import Settings, SettingsError, load_settings
from gates.bundle import BundleError
from gates.policy import PolicyError
from storage.db import DatabaseUrlError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="releasegate", description="Ship web images safely, gated in Slack.")
    p.add_argument(
        "--log-level", default=None, type=str.upper, choices=LEVELS, help="default: $RELEASEGATE_LOG_LEVEL or INFO"
    )
    p.add_argument("--log-format", default=None, choices=FORMATS, help="default: $RELEASEGATE_LOG_FORMAT or text")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot (HTTP on --port, or --socket-mode)")
    serve.add_argument("--port", type=int, default=None, help="HTTP port (default: $PORT or 3000)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--socket-mode", action="store_true", help="connect with SLACK_APP_TOKEN instead of HTTP")

    demo = sub.add_parser("demo", help="a whole release against the local Slack stand-in, no credentials needed")
    demo.add_argument("--out", default=None, help="folder for the transcript, charts and audit export")

    try:
        from bot.cli.gate import add_gate_parser

        add_gate_parser(sub)
    except ImportError:  # pragma: no cover - the visual gate CLI ships in the same package
        pass
    from bot.cli.metrics import add_metrics_parser

    add_metrics_parser(sub)

    from bot.cli.keys import add_keys_parser

    add_keys_parser(sub)

    from bot.drill.cli import add_drill_parser

    add_drill_parser(sub)

    audit = sub.add_parser("audit", help="verify or export the audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    ver = asub.add_parser("verify", help="recompute the hash chain; exit 1 naming the first bad entry")
    ver.add_argument("--checkpoint", default=None, help="signed checkpoint(s) kept outside the database (JSON/JSONL)")
    ver.add_argument("--pubkey", default=None, help="Ed25519 public key: base64, PEM text or PEM file")
    ver.add_argument("--file", default=None, help="verify a JSONL export offline instead of the database")
    exp = asub.add_parser("export", help="write the audit log as JSONL or CSV, plus manifest.json beside it")
    exp.add_argument("--format", choices=["jsonl", "csv"], required=True)
    exp.add_argument("--release", default=None, type=release_name)
    exp.add_argument("--since", default=None, help="sequence number or ISO date/time")
    exp.add_argument("--out", required=True)

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", required=True)
    dsub.add_parser("upgrade", help="apply migrations")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Read straight from the environment: logging must work even when another setting is malformed
    # (that one is then reported in one line by load_settings).
    level = args.log_level or os.environ.get("RELEASEGATE_LOG_LEVEL", "INFO").upper()
    fmt = args.log_format or os.environ.get("RELEASEGATE_LOG_FORMAT", "text").lower()
    configure(level if level in LEVELS else "INFO", fmt if fmt in FORMATS else "text")
    try:
        return _dispatch(args)
    except (SettingsError, PolicyError, BundleError, DatabaseUrlError) as exc:
        print(f"releasegate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "gate":
        from bot.cli.gate import gate_preview_main

        return gate_preview_main(args)
    if args.command == "metrics":
        from bot.cli.metrics import metrics_main

        return metrics_main(args)
    if args.command == "keys":
        from bot.cli.keys import keys_main

        return keys_main(args)
    if args.command == "demo":
        try:
            from bot.demo.walkthrough import run_demo
        except ImportError:
            print(
                "releasegate: the demo is not part of this install (wheels and the image leave the Slack "
                "stand-in out); run it from a checkout: bash scripts/demo.sh",
                file=sys.stderr,
            )
            return 2
        return asyncio.run(run_demo(args.out))
    settings = load_settings()
    if args.command == "serve":
        from bot.http.server import serve

        return asyncio.run(
            serve(settings, host=args.host, port=args.port or settings.port, socket_mode=args.socket_mode)
        )
    if args.command == "drill":
        from bot.drill.cli import drill_main

        return drill_main(args, settings)
    if args.command == "db":
        return asyncio.run(_db_upgrade(settings))
    if args.command == "audit":
        from bot.cli.audit import audit_export, audit_verify

        if args.audit_command == "verify":
            return asyncio.run(audit_verify(settings, args.checkpoint, args.pubkey, args.file))
        return asyncio.run(audit_export(settings, args.format, args.release, args.out, args.since))
    return 2


async def _db_upgrade(settings: Settings) -> int:
    from storage.db import current_revision, make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        print(f"database at revision {await current_revision(engine)}")
    finally:
        await engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
