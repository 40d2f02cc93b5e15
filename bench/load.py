"""Load: 200 concurrent people and clients against a real `releasegate serve`, each bounded in count and time.

    python bench/load.py [--users 200] [--seconds 30] [--json PATH]

Every simulated user loops for ``--seconds`` (at most ``--per-user`` requests), picking what a busy
workspace sends: ``/release status|list|help``, a stranger's Approve click on a pending request (refused
after the ack), a ``/release start`` of a bundle whose ``release.yml`` is 0.9 MB (YAML to parse and images
to hash; most are refused as already running), metric batches of 200 web-vitals samples, and bundle
uploads with a 0.9 MB ``release.yml``. The app runs in its own process on SQLite, Slack is the stand-in
in a third, the load comes from this one (all reused from ``bench/ack_latency.py``).

Reported: answer latency p50/p99 per kind, the named baseline (a bare Bolt app's p99 for the same signed
commands, measured in the same run), non-2xx/4xx answers, and the event loop's longest stall inside
`serve` (``/healthz`` → ``loop``). Target: no stall over 100 ms, no 5xx, every ack within 3 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from typing import Any  # noqa: E402

import ack_latency as ack  # noqa: E402
import aiohttp  # noqa: E402
import yaml  # noqa: E402

from bot.demo.simulated_users import SlackUsers  # noqa: E402
from bot.drill.samples import encode, photo, sample_policy, summer_hero  # noqa: E402
from bot.drill.traffic_sim import rum_batch  # noqa: E402

BIG_YAML_PAD = 900_000


def _big_bundle(releases: Path, name: str) -> None:
    summer_hero(releases, name)
    manifest = releases / name / "release.yml"
    # A comment keeps it valid: the parser still has to read every byte, which is the point.
    manifest.write_text(manifest.read_text() + "#" + "x" * BIG_YAML_PAD + "\n")


# Built once, before the clock starts: the load generator must not spend its own event loop on
# making images and JSON while it times the app's answers.
_PNG = encode(photo(320, 180, 5), "PNG")
_YAML = (
    yaml.safe_dump({"title": "Load", "images": [{"id": "tile", "candidate": "candidate/tile.png", "alt": "A hill"}]})
    + "#"
    + "y" * BIG_YAML_PAD
    + "\n"
).encode()
_BATCHES = [json.dumps(rum_batch("big-0", n_per_arm=100, seed=s)).encode() for s in range(20)]


def _upload_form() -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", _YAML, filename="release.yml")
    form.add_field("file", _PNG, filename="candidate/tile.png")
    return form


async def _user(
    i: int,
    base: str,
    session: aiohttp.ClientSession,
    approval: dict[str, Any],
    until: float,
    per_user: int,
    out: dict[str, list[float]],
    statuses: dict[int, int],
) -> None:
    rng = random.Random(i)
    users = SlackUsers(f"{base}/slack/events", ack.SECRET, session)
    auth = {"Authorization": f"Bearer {ack.API_TOKEN}"}
    for n in range(per_user):
        if time.monotonic() > until:
            return
        kind = rng.choices(["command", "click", "start", "metrics", "upload"], weights=[40, 20, 10, 25, 5])[0]
        started = time.perf_counter()
        if kind == "command":
            status = (
                await users.slash(ack.STRANGER, rng.choice(["status", "list", "help", "status big-0"]), ack.CHANNEL)
            ).status
        elif kind == "click":
            status = (
                await users.click(
                    ack.STRANGER,
                    channel=ack.CHANNEL,
                    message=approval["message"],
                    action_id="approve",
                    value=approval["value"],
                    block_id=approval["block_id"],
                )
            ).status
        elif kind == "start":
            status = (await users.slash(ack.REQUESTER, f"start big-{rng.randrange(3)}", ack.CHANNEL)).status
        elif kind == "metrics":
            body = _BATCHES[(i + n) % len(_BATCHES)]
            async with session.post(
                f"{base}/api/v1/metrics", data=body, headers={**auth, "Content-Type": "application/json"}
            ) as r:
                status = r.status
        else:
            async with session.post(
                f"{base}/api/v1/releases?name=load-{i}-{n}", data=_upload_form(), headers=auth
            ) as r:
                status = r.status
        out[kind].append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1


async def orchestrate(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="rg-load-") as tmp:
        work = Path(tmp)
        releases = work / "releases"
        releases.mkdir()
        summer_hero(releases, ack.PENDING)
        for k in range(3):
            _big_bundle(releases, f"big-{k}")
        (work / "policy.yml").write_text(
            sample_policy(
                reviewer=ack.REVIEWER,
                backup=ack.BACKUP,
                sre=ack.SRE,
                sre_group=ack.SRE_GROUP,
                product=ack.PRODUCT,
                product_backup=ack.PRODUCT_BACKUP,
            )
        )
        me = str((REPO / "bench" / "ack_latency.py").resolve())
        slack_port, inspect_port, bare_port, serve_port = ack.free_ports(4)
        slack_api = f"http://127.0.0.1:{slack_port}/api/"
        inspect = f"http://127.0.0.1:{inspect_port}"
        children: list[ack.Child] = []
        try:
            children.append(
                await ack.spawn(
                    "standin",
                    [me, "--role", "standin", "--port", str(slack_port), "--inspect-port", str(inspect_port)],
                    port=inspect_port,
                    ready_path="/bench/calls",
                    workdir=work,
                )
            )
            bare = await ack.spawn(
                "bare",
                [me, "--role", "bare", "--port", str(bare_port), "--slack-api", slack_api],
                port=bare_port,
                ready_path="/healthz",
                workdir=work,
            )
            children.append(bare)
            env = {
                "SLACK_BOT_TOKEN": ack.TOKEN,
                "SLACK_SIGNING_SECRET": ack.SECRET,
                "SLACK_API_URL": slack_api,
                "RELEASEGATE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'releasegate.db'}",
                "RELEASEGATE_POLICY": str(work / "policy.yml"),
                "RELEASEGATE_RELEASES_DIR": str(releases),
                "RELEASEGATE_API_TOKEN": ack.API_TOKEN,
                "RELEASEGATE_COMMANDS_PER_USER_PER_MINUTE": "0",
                "RELEASEGATE_COMMANDS_PER_CHANNEL_PER_MINUTE": "0",
            }
            serve = await ack.spawn(
                "serve",
                ["-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(serve_port)],
                port=serve_port,
                ready_path="/healthz",
                workdir=work,
                env=env,
            )
            children.append(serve)
            # No connection cap: 200 users means 200 connections in flight, as 200 browsers and Slack would open.
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
                users = SlackUsers(f"{serve.base}/slack/events", ack.SECRET, session)
                await users.slash(ack.REQUESTER, f"start {ack.PENDING}", ack.CHANNEL)
                await users.slash(ack.REQUESTER, "start big-0", ack.CHANNEL)
                approval = await ack.pending_approval(inspect)
                await ack.settle(serve.base, [ack.PENDING, "big-0"])
                # The named baseline: the same signed commands at a bare Bolt app, in this run.
                base_samples, _ = await ack.fire(bare.base, ack.plan(args.users, [], approval, random.Random(1)))
                baseline_p99 = ack.pct([s.seconds for s in base_samples], 99)
                async with session.get(f"{serve.base}/healthz") as r:
                    before = (await r.json())["loop"]
                out: dict[str, list[float]] = defaultdict(list)
                statuses: dict[int, int] = {}
                until = time.monotonic() + args.seconds
                await asyncio.gather(
                    *(
                        _user(i, serve.base, session, approval, until, args.per_user, out, statuses)
                        for i in range(args.users)
                    )
                )
                async with session.get(f"{serve.base}/healthz") as r:
                    loop = (await r.json())["loop"]
        finally:
            for c in reversed(children):
                await c.stop()
    figures = {
        "users": args.users,
        "seconds": args.seconds,
        "requests": sum(len(v) for v in out.values()),
        "statuses": statuses,
        "by_kind": {
            k: {
                "n": len(v),
                "p50_ms": round(ack.pct(v, 50) * 1000, 1),
                "p99_ms": round(ack.pct(v, 99) * 1000, 1),
                "max_ms": round(max(v) * 1000, 1),
            }
            for k, v in sorted(out.items())
        },
        "baseline_bare_bolt_p99_ms": round(baseline_p99 * 1000, 1),
        "loop_before_load": before,
        "loop": loop,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    acks = [x for k in ("command", "click", "start") for x in out.get(k, [])]
    ok = loop["stalls_over_100ms"] == 0 and not any(s >= 500 for s in statuses) and max(acks, default=0) < 3.0
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--per-user", type=int, default=40, help="at most this many requests per user")
    p.add_argument("--json", default=None)
    return asyncio.run(orchestrate(p.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
