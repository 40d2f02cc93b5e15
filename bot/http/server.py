"""`releasegate serve`: HTTP mode or Socket Mode, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.app import Bot, StartupError, build_bot, build_web_app
from bot.policy_file import load_policy
from bot.settings import Settings

log = logging.getLogger(__name__)


async def start_http(bot: Bot, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_web_app(bot), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> int:
    if socket_mode and not settings.slack_app_token:
        print("releasegate: setting SLACK_APP_TOKEN is required for --socket-mode (xapp-…)")
        return 2
    if not socket_mode and not settings.slack_signing_secret:
        print("releasegate: setting SLACK_SIGNING_SECRET is required in HTTP mode")
        return 2
    policy = load_policy(settings.policy_path, required=True)
    try:
        bot = await build_bot(settings, policy)
    except StartupError as exc:
        print(f"releasegate: {exc}")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await bot.start()
    # The HTTP server also runs in Socket Mode: health checks and the API need it.
    runner = await start_http(bot, host, port)
    handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(bot.bolt, settings.slack_app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected in Socket Mode; HTTP API on %s:%d", host, port)
    else:
        log.info("listening on http://%s:%d/slack/events", host, port)
    print(f"releasegate serving on port {port}", flush=True)
    await stop.wait()
    log.info("stopping")
    if handler is not None:
        await handler.close_async()  # type: ignore[no-untyped-call]
    await runner.cleanup()
    await bot.close()
    return 0
