"""The end-to-end tests' people and policy; the machinery is bot.sandbox (shared with the demo)."""

from __future__ import annotations

from bot.samples import sample_policy
from bot.sandbox import API_TOKEN, BOT_TOKEN, CHANNEL, SIGNING_SECRET, Sandbox, _api, wait_until
from gates.policy import Policy, parse_policy

SECRET = SIGNING_SECRET
TOKEN = BOT_TOKEN

REQUESTER = "U0REQUESTR"
REVIEWER = "U0REVIEWER"
BACKUP = "U0BACKUP01"
SRE = "U0SRE00001"
SRE_GROUP = "S0SREGROUP"
SRE_MEMBER = "U0SREMEMB1"
PRODUCT = "U0PRODUCT1"
PRODUCT_BACKUP = "U0PRODVP01"
STRANGER = "U0STRANGER"

__all__ = ["API_TOKEN", "CHANNEL", "Env", "_api", "wait_until"]


def make_policy(**overrides: str) -> Policy:
    """Short ramps, and no traffic gates unless a test asks: lifecycle tests need no metrics."""
    params = dict(
        reviewer=REVIEWER,
        backup=BACKUP,
        sre=SRE,
        sre_group=SRE_GROUP,
        product=PRODUCT,
        product_backup=PRODUCT_BACKUP,
        every="0.2s",
        observe="1s",
        min_samples="1000",
        canary_gates="{}",
        global_gates="{}",
    )
    params.update(overrides)
    return parse_policy(sample_policy(**params))


class Env(Sandbox):
    async def start(self, name: str, user: str = REQUESTER) -> None:
        await super().start(name, user)


def fixed_clock():  # type: ignore[no-untyped-def]
    """The wall clock, as an injectable callable (kept for tests that build a bot themselves)."""
    from datetime import UTC, datetime

    return lambda: datetime.now(UTC)
