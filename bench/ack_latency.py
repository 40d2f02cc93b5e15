"""Ack latency under a burst: `releasegate serve` beside a bare Bolt app that only acks.

    python bench/ack_latency.py [--requests 200] [--rounds 3] [--starts 10] [--json PATH]

Slack gives an app 3 seconds to answer a slash command or a click, and a busy channel sends them in
bursts. This fires ``--requests`` concurrent signed requests at each app, ``--rounds`` times, alternating
which app goes first, and compares the latency each request sees (send to full answer):

* the real app: ``python -m bot.cli serve`` (the `releasegate serve` entry point) in its own process, on a
  SQLite database in a temporary folder, its Web API pointed at the Slack stand-in;
* a bare ``AsyncApp`` in its own process: same signing secret, same Web API client setup, same aiohttp
  adapter, listeners that only ``ack()``: the cost of Bolt itself, the floor we are measured against.

The Slack stand-in runs in a third process and the load comes from this one, so the work Slack would do
(answering chat.postEphemeral, storing messages) does not land on the app's or the client's event loop.

The burst mixes what a channel sends: ``/release status``, ``status NAME``, ``list``, ``help``, malformed and
unknown subcommands, ``start`` of real sample bundles (their Preview gates then run in the background while
the rest of the burst is answered), and Approve clicks by a stranger on a real pending approval, which the
bot refuses after acking, so no state changes. Every round uses fresh bundles for ``start``.

Target: p99 ratio (serve / bare) <= 1.5, no ack over 3 s, zero non-200 answers. Exit status 1 if missed.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script, the repo root is not on the path by itself
    sys.path.insert(0, str(REPO))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.demo.simulated_users import Answer, SlackUsers, find_button  # noqa: E402

SECRET = "bench-signing-secret-0123456789abcdef"
TOKEN = "xoxb-bench-releasegate"
API_TOKEN = "bench-api-token"
CHANNEL = "C0RELEASES"
REQUESTER = "U0REQUESTR"
REVIEWER = "U0REVIEWER"
BACKUP = "U0BACKUP01"
SRE = "U0SRE00001"
SRE_GROUP = "S0SREGROUP"
SRE_MEMBER = "U0SREMEMB1"
PRODUCT = "U0PRODUCT1"
PRODUCT_BACKUP = "U0PRODVP01"
STRANGER = "U0STRANGER"
USERS = (REQUESTER, REVIEWER, BACKUP, SRE, SRE_MEMBER, PRODUCT, PRODUCT_BACKUP, STRANGER)
PENDING = "beach-pending"
TARGET_RATIO = 1.5
TARGET_MAX_S = 3.0

# Share of the burst per kind of request; "start" is set by --starts, approvals take what is left.
MIX = {"status": 0.15, "status-name": 0.10, "list": 0.15, "help": 0.15, "unknown": 0.15}
UNKNOWN = [
    "deploy summer-hero",
    "start",
    "start Bad/Name",
    "status a b",
    "list everything",
    "approve beach-pending",
    "rollback",
    "<!channel> now",
]


def free_ports(n: int) -> list[int]:
    # All held open until all are picked, so the kernel cannot hand the same port out twice.
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


# -- child process roles ------------------------------------------------------------------------------------


async def run_until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def role_standin(port: int, inspect_port: int) -> None:
    """Slack, plus a read-only window into it for the orchestrator (which has no other way in)."""
    from bot.demo.standin import SlackStandIn

    standin = SlackStandIn(bot_tokens=[TOKEN])
    await standin.start(port=port)
    for uid in USERS:
        standin.add_user(uid, uid.lower())
    standin.add_usergroup(SRE_GROUP, [SRE_MEMBER])

    async def messages(_: web.Request) -> web.Response:
        out = [
            {"ts": m.ts, "thread_ts": m.thread_ts, "text": m.text, "blocks": m.blocks or [], "rendered": m.rendered}
            for m in standin.messages(CHANNEL, include_replies=True)
        ]
        return web.json_response(out)

    async def calls(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "total": len(standin.calls),
                "rejected": len(standin.rejected_calls),
                "methods": Counter(c.method for c in standin.calls),
            }
        )

    app = web.Application()
    app.router.add_get("/bench/messages", messages)
    app.router.add_get("/bench/calls", calls)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", inspect_port).start()
    await run_until_terminated()
    await runner.cleanup()
    await standin.stop()


async def role_bare(port: int, slack_api_url: str) -> None:
    """What Bolt costs with nothing behind it, served exactly the way bot.app serves the real bot."""
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp

    from bot.slack.client import make_client

    bolt = AsyncApp(token=TOKEN, signing_secret=SECRET, client=make_client(TOKEN, slack_api_url))

    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    bolt.command("/release")(only_ack)
    bolt.action(re.compile(".*"))(only_ack)
    bolt.view(re.compile(".*"))(only_ack)

    async def slack_events(request: web.Request) -> web.StreamResponse:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await run_until_terminated()
    await runner.cleanup()


# -- the orchestrator: processes ----------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    base: str
    log: Path

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def spawn(
    name: str, args: list[str], *, port: int, ready_path: str, workdir: Path, env: dict[str, str] | None = None
) -> Child:
    log_path = workdir / f"{name}.log"
    # Output goes to a file: a pipe nobody reads would fill up and stall the child mid-benchmark.
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            cwd=workdir,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    child = Child(name, proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.returncode is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                async with session.get(child.base + ready_path) as resp:
                    if resp.status == 200:
                        return child
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                await child.stop()
                raise SystemExit(f"{name} did not become ready:\n{log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.2)


def cpu_seconds(pid: int | None) -> float | None:
    """User+system CPU of one process (not its children), from /proc; None where there is no /proc.
    CPU per burst barely moves when other jobs share the machine, unlike wall-clock latency."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the orchestrator: requests -----------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    status: int
    seconds: float


@dataclass
class Burst:
    app: str
    round: int
    samples: list[Sample]
    wall: float
    cpu: float | None = None  # the app process's CPU seconds while the burst was being answered

    @property
    def latencies(self) -> list[float]:
        return [s.seconds for s in self.samples]


Send = Callable[[SlackUsers], Awaitable[Answer]]


def plan(n: int, starts: list[str], approval: dict[str, Any], rng: random.Random) -> list[tuple[str, Send]]:
    """The burst: the same kinds in the same order for both apps."""
    counts = {kind: round(share * n) for kind, share in MIX.items()}
    counts["start"] = len(starts)
    counts["approve"] = n - sum(counts.values())
    if counts["approve"] < 0:
        raise SystemExit("--starts is too large for --requests")
    todo: list[tuple[str, Send]] = []
    for kind, count in counts.items():
        for i in range(count):
            todo.append((kind, _sender(kind, i, starts, approval, rng)))
    rng.shuffle(todo)
    return todo


def _sender(kind: str, i: int, starts: list[str], approval: dict[str, Any], rng: random.Random) -> Send:
    if kind == "start":
        return lambda u: u.slash(REQUESTER, f"start {starts[i]}", CHANNEL)
    if kind == "approve":
        block_id, value = approval["block_id"], approval["value"]
        return lambda u: u.click(
            STRANGER, channel=CHANNEL, message=approval["message"], action_id="approve", value=value, block_id=block_id
        )
    text = {
        "status": "status",
        "status-name": f"status {PENDING}",
        "list": "list",
        "help": "help",
        "unknown": rng.choice(UNKNOWN),
    }[kind]
    user = rng.choice(USERS)
    return lambda u: u.slash(user, text, CHANNEL)


async def fire(base: str, todo: list[tuple[str, Send]]) -> tuple[list[Sample], float]:
    # No connection cap: Slack opens as many connections as it has requests in flight.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        users = SlackUsers(f"{base}/slack/events", SECRET, session)
        gate = asyncio.Event()

        async def one(kind: str, send: Send) -> Sample:
            await gate.wait()
            t0 = time.perf_counter()
            try:
                status = (await send(users)).status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            return Sample(kind, status, time.perf_counter() - t0)

        tasks = [asyncio.create_task(one(kind, send)) for kind, send in todo]
        await asyncio.sleep(0)  # every task is parked on the gate, so the burst leaves at once
        started = time.perf_counter()
        gate.set()
        samples = await asyncio.gather(*tasks)
        return list(samples), time.perf_counter() - started


async def get_json(base: str, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(base + path, headers=headers) as resp:
        resp.raise_for_status()
        return await resp.json()


def _root_ts(messages: list[dict[str, Any]], name: str) -> str | None:
    pattern = re.compile(rf"Release \*?{re.escape(name)}(?![\w.-])")
    for m in messages:
        if m["thread_ts"] in (None, m["ts"]) and pattern.search(m["rendered"]):
            return str(m["ts"])
    return None


async def pending_approval(inspect: str, timeout: float = 180) -> dict[str, Any]:
    """The Approve button of PENDING's Preview results, as a person would find it in the thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = await get_json(inspect, "/bench/messages")
        root = _root_ts(messages, PENDING)
        for m in messages:
            if root and m["thread_ts"] == root and m["ts"] != root:
                api = {"type": "message", "ts": m["ts"], "text": m["text"], "blocks": m["blocks"]}
                found = find_button(api, "approve")
                if found:
                    return {"message": api, "block_id": found[0], "value": found[1]}
        await asyncio.sleep(0.3)
    raise SystemExit(f"no Approve button for {PENDING} within {timeout:.0f} s")


async def settle(serve: str, names: list[str], timeout: float = 300) -> float:
    """Wait until the releases started in a burst are past their Preview gates, so the background work of
    one burst does not slow the next one (or the bare app's)."""
    t0 = time.monotonic()
    waiting = set(names)
    while waiting and time.monotonic() - t0 < timeout:
        for name in sorted(waiting):
            try:
                body = await get_json(serve, f"/api/v1/releases/{name}", API_TOKEN)
            except aiohttp.ClientResponseError:
                continue  # not created yet
            if body.get("state") != "running":
                waiting.discard(name)
        if waiting:
            await asyncio.sleep(0.25)
    if waiting:
        print(f"warning: still running after {timeout:.0f} s: {', '.join(sorted(waiting))}")
    return time.monotonic() - t0


async def quiet(inspect: str, still: float = 1.0, timeout: float = 60) -> None:
    """Wait until no Slack call has arrived for ``still`` seconds: results, thumbnails and uploads trail the
    state change, and a burst measured on top of them would be measuring them."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        total = (await get_json(inspect, "/bench/calls"))["total"]
        if total == last:
            return
        last = total
        await asyncio.sleep(still)


# -- the orchestrator: figures ------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Summary:
    app: str
    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    non_200: int
    per_round_p99: list[float] = field(default_factory=list)
    by_kind_p99: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_request: float | None = None

    @classmethod
    def of(cls, app: str, bursts: list[Burst]) -> Summary:
        lat = [x for b in bursts for x in b.latencies]
        samples = [s for b in bursts for s in b.samples]
        kinds = sorted({s.kind for s in samples})
        return cls(
            app,
            len(lat),
            pct(lat, 50),
            pct(lat, 90),
            pct(lat, 99),
            max(lat),
            statistics.fmean(lat),
            sum(1 for s in samples if s.status != 200),
            [pct(b.latencies, 99) for b in bursts],
            {k: pct([s.seconds for s in samples if s.kind == k], 99) for k in kinds},
            None if any(b.cpu is None for b in bursts) else 1000 * sum(b.cpu or 0 for b in bursts) / len(lat),
        )


def ms(x: float) -> str:
    return f"{x * 1000:7.1f}"


def report(
    bare: Summary,
    serve: Summary,
    args: argparse.Namespace,
    settled: list[float],
    slack_calls: int,
    rejected: int,
    unchanged: bool,
) -> bool:
    print()
    print(
        f"ack latency: {args.requests} concurrent signed requests x {args.rounds} rounds per app "
        f"({args.starts} starts, stranger approvals, status/list/help, unknown subcommands)"
    )
    print(f"{'':24}{'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'mean ms':>8}{'non-200':>9}")
    for s in (bare, serve):
        label = "bare Bolt (ack only)" if s is bare else "releasegate serve"
        print(f"{label:24}{ms(s.p50):>8}{ms(s.p90):>8}{ms(s.p99):>8}{ms(s.max):>8}{ms(s.mean):>8}{s.non_200:>9}")
    ratio50, ratio99 = serve.p50 / bare.p50, serve.p99 / bare.p99
    print(f"{'ratio (serve / bare)':24}{ratio50:>8.2f}{'':>8}{ratio99:>8.2f}")
    paired = [b and s / b for b, s in zip(bare.per_round_p99, serve.per_round_p99, strict=True)]
    print(
        "p99 per round, ms:  bare "
        + " ".join(f"{x * 1000:.0f}" for x in bare.per_round_p99)
        + "   serve "
        + " ".join(f"{x * 1000:.0f}" for x in serve.per_round_p99)
        + f"   (median of per-round ratios {statistics.median(paired):.2f})"
    )
    if bare.cpu_ms_per_request is not None and serve.cpu_ms_per_request is not None:
        print(
            f"app process CPU while answering, per request: bare {bare.cpu_ms_per_request:.2f} ms, "
            f"serve {serve.cpu_ms_per_request:.2f} ms ({serve.cpu_ms_per_request / bare.cpu_ms_per_request:.2f}x)"
        )
    print(
        f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
        "latency on a shared machine moves with it, CPU per request much less"
    )
    print("serve p99 by kind, ms: " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in serve.by_kind_p99.items()))
    print(
        f"serve background: Preview gates of the started releases done {', '.join(f'{x:.1f}' for x in settled)}"
        f" s after each burst; {slack_calls} Slack calls, {rejected} rejected by the stand-in; "
        f"pending approval untouched by strangers: {'yes' if unchanged else 'NO'}"
    )
    checks = {
        f"p99 ratio {ratio99:.2f} <= {TARGET_RATIO}": ratio99 <= TARGET_RATIO,
        f"max ack {max(bare.max, serve.max):.3f} s <= {TARGET_MAX_S:.0f} s": max(bare.max, serve.max) <= TARGET_MAX_S,
        f"non-200 answers {bare.non_200 + serve.non_200} == 0": bare.non_200 + serve.non_200 == 0,
        "no Slack call rejected, state unchanged": rejected == 0 and unchanged,
    }
    for what, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "requests": args.requests,
                    "rounds": args.rounds,
                    "starts": args.starts,
                    "bare": bare.__dict__,
                    "serve": serve.__dict__,
                    "ratio_p50": ratio50,
                    "ratio_p99": ratio99,
                    "ratio_p99_median_of_rounds": statistics.median(paired),
                    "loadavg_1m": os.getloadavg()[0],
                    "settled_s": settled,
                    "pass": all(checks.values()),
                },
                indent=2,
            )
        )
    return all(checks.values())


async def orchestrate(args: argparse.Namespace) -> int:
    from bot.drill.samples import sample_policy, summer_hero

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="rg-ack-bench-") as tmp:
        work = Path(tmp)
        releases = work / "releases"
        releases.mkdir()
        summer_hero(releases, PENDING)
        starts = [[f"burst-r{r}-{i:02d}" for i in range(args.starts)] for r in range(1, args.rounds + 1)]
        for name in (n for names in starts for n in names):
            summer_hero(releases, name)
        # Production durations: nothing times out or escalates while the bursts run.
        (work / "policy.yml").write_text(
            sample_policy(
                reviewer=REVIEWER,
                backup=BACKUP,
                sre=SRE,
                sre_group=SRE_GROUP,
                product=PRODUCT,
                product_backup=PRODUCT_BACKUP,
            )
        )

        me = str(Path(__file__).resolve())
        slack_port, inspect_port, bare_port, serve_port = free_ports(4)
        slack_api = f"http://127.0.0.1:{slack_port}/api/"
        inspect = f"http://127.0.0.1:{inspect_port}"
        children: list[Child] = []
        try:
            children.append(
                await spawn(
                    "standin",
                    [me, "--role", "standin", "--port", str(slack_port), "--inspect-port", str(inspect_port)],
                    port=inspect_port,
                    ready_path="/bench/calls",
                    workdir=work,
                )
            )
            bare = await spawn(
                "bare",
                [me, "--role", "bare", "--port", str(bare_port), "--slack-api", slack_api],
                port=bare_port,
                ready_path="/healthz",
                workdir=work,
            )
            children.append(bare)
            # The settings a deployment would set; cwd is the temp folder, so a developer's .env stays out.
            settings = {
                "SLACK_BOT_TOKEN": TOKEN,
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack_api,
                "RELEASEGATE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'releasegate.db'}",
                "RELEASEGATE_POLICY": str(work / "policy.yml"),
                "RELEASEGATE_RELEASES_DIR": str(releases),
                "RELEASEGATE_API_TOKEN": API_TOKEN,
                # The bench sends far more commands per person than a person would; the limits would
                # turn most of them into (faster) refusals and make the comparison meaningless.
                "RELEASEGATE_COMMANDS_PER_USER_PER_MINUTE": "0",
                "RELEASEGATE_COMMANDS_PER_CHANNEL_PER_MINUTE": "0",
            }
            serve = await spawn(
                "serve",
                ["-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(serve_port)],
                port=serve_port,
                ready_path="/healthz",
                workdir=work,
                env=settings,
            )
            children.append(serve)

            async with aiohttp.ClientSession() as session:
                await SlackUsers(f"{serve.base}/slack/events", SECRET, session).slash(
                    REQUESTER, f"start {PENDING}", CHANNEL
                )
            approval = await pending_approval(inspect)
            await settle(serve.base, [PENDING])

            # Warm-up: Bolt's first request calls auth.test, and first use pays for imports and connections.
            for child in (bare, serve):
                warm = plan(20, [], approval, random.Random(0))
                await fire(child.base, warm)
            before = (await get_json(inspect, "/bench/calls"))["total"]

            bursts: dict[str, list[Burst]] = {"bare": [], "serve": []}
            settled: list[float] = []
            for r in range(args.rounds):
                todo = plan(args.requests, starts[r], approval, rng)
                order = (bare, serve) if r % 2 == 0 else (serve, bare)
                for child in order:
                    await quiet(inspect)
                    cpu0 = cpu_seconds(child.proc.pid)
                    samples, wall = await fire(child.base, todo)
                    cpu1 = cpu_seconds(child.proc.pid)
                    cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
                    bursts[child.name].append(Burst(child.name, r + 1, samples, wall, cpu))
                    p99 = pct([s.seconds for s in samples], 99)
                    print(
                        f"round {r + 1} {child.name:5}: p99 {p99 * 1000:.0f} ms, burst answered in {wall:.2f} s"
                        + (f", app CPU {cpu:.2f} s" if cpu is not None else ""),
                        flush=True,
                    )
                    if child is serve:
                        settled.append(await settle(serve.base, starts[r]))

            calls = await get_json(inspect, "/bench/calls")
            after = await get_json(inspect, "/bench/messages")
            unchanged = any(
                find_button({"blocks": m["blocks"]}, "approve") for m in after if m["ts"] == approval["message"]["ts"]
            )
            ok = report(
                Summary.of("bare", bursts["bare"]),
                Summary.of("serve", bursts["serve"]),
                args,
                settled,
                calls["total"] - before,
                calls["rejected"],
                unchanged,
            )
            return 0 if ok else 1
        finally:
            for child in reversed(children):
                await child.stop()
            if args.keep_logs:
                for child in children:
                    print(f"--- {child.name} log (last 2000 chars)\n{child.log.read_text()[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=200, help="requests per burst (default 200)")
    p.add_argument("--rounds", type=int, default=5, help="bursts per app, alternating which goes first")
    p.add_argument("--starts", type=int, default=10, help="`/release start` of fresh bundles per burst")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--keep-logs", action="store_true", help="print the tail of each child's log at the end")
    p.add_argument("--role", choices=["orchestrate", "standin", "bare"], default="orchestrate", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--inspect-port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--slack-api", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "standin":
        asyncio.run(role_standin(args.port, args.inspect_port))
        return 0
    if args.role == "bare":
        # The same log level as `releasegate serve`, so logging costs the same on both sides.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        asyncio.run(role_bare(args.port, args.slack_api))
        return 0
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    raise SystemExit(main())
