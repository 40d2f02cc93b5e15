"""Picks the traffic engines the policy names, and fans a split out to all of them.

The built-in ``GET /api/v1/flags/{release}`` endpoint needs no engine: it reads the split the
lifecycle recorded in the database, so it is on whatever is configured here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from dotenv import dotenv_values

from bot.settings import Settings
from bot.traffic.advice import AdviceOnly
from bot.traffic.flagd import FlagdFile
from bot.traffic.protocol import Split, TrafficController, TrafficError
from bot.traffic.webhook import Webhook
from gates.durations import parse_duration
from gates.policy import FlagdEngine, Policy, TrafficEngines

log = logging.getLogger(__name__)


class TrafficConfigError(ValueError):
    """The traffic engines cannot be built; one line naming what to fix."""


class FanOut:
    """Sends every split to every engine, concurrently; fails if any engine failed.

    Every engine is tried even when another fails: a rollback must reach all the engines that can
    be reached. The lifecycle holds the ramp on the error, and the next step re-sends the split to
    all engines, which is harmless because applying the same split twice changes nothing.
    """

    def __init__(self, engines: Sequence[TrafficController]) -> None:
        if not engines:
            raise ValueError("FanOut needs at least one engine")
        self.engines = list(engines)
        self.name = "+".join(e.name for e in self.engines)

    async def apply(self, split: Split) -> None:
        outcomes = await asyncio.gather(*(e.apply(split) for e in self.engines), return_exceptions=True)
        failed = [(e, o) for e, o in zip(self.engines, outcomes, strict=True) if isinstance(o, BaseException)]
        for engine, exc in failed:
            if not isinstance(exc, TrafficError):
                log.error("traffic engine %s crashed on %s", engine.name, split.release, exc_info=exc)
        if failed:
            raise TrafficError("; ".join(f"{e.name}: {exc}" for e, exc in failed))


def _flagd(cfg: FlagdEngine | None) -> FlagdFile:
    cfg = cfg or FlagdEngine()
    return FlagdFile(Path(cfg.path), prefix=cfg.flag_prefix)


def build_engines(config: TrafficEngines, environ: dict[str, str] | None = None) -> list[TrafficController]:
    # Secrets may sit in .env like every other setting; the real environment wins, as in Settings.
    env = (
        {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
        if environ is None
        else environ
    )
    out: list[TrafficController] = []
    for name in config.engines:
        if name == "flagd":
            out.append(_flagd(config.flagd))
        elif name == "webhook":
            hook = config.webhook
            assert hook is not None  # the policy validator guarantees it
            secret = env.get(hook.secret_env, "")
            if not secret:
                raise TrafficConfigError(
                    f"setting {hook.secret_env} is required: the webhook traffic engine signs with it"
                )
            out.append(
                Webhook(hook.url, secret, attempts=hook.attempts, timeout=parse_duration(hook.timeout).total_seconds())
            )
    return out


def make_traffic(
    policy: Policy, settings: Settings | None = None, environ: dict[str, str] | None = None
) -> TrafficController:
    """One engine as is, several behind a ``FanOut``, none: ``AdviceOnly``.

    ``settings`` is accepted so engines can later read bot-wide settings; today the engines are
    configured entirely by the policy and secrets come from the environment (``environ``).
    """
    del settings
    if policy.traffic is None or not policy.traffic.engines:
        return AdviceOnly()
    engines = build_engines(policy.traffic, environ)
    return engines[0] if len(engines) == 1 else FanOut(engines)
