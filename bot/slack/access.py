"""Who may start releases (policy ``requesters``) and who may open the Audit Inspector (``auditors``).

Users and user groups are resolved like owners (``bot.slack.authz``), failing closed on a group Slack
cannot resolve. A refusal says what to do and is audited like the four-eyes refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.slack.authz import is_owner
from bot.slack.notifier import Notifier
from gates.policy import Policy
from storage.repo import AuditNote, Store

Reply = Callable[[str], Awaitable[None]]


async def is_requester(slack: Notifier, policy: Policy, user: str) -> bool:
    allowed = policy.requester_ids()
    return allowed is None or await is_owner(slack, user, allowed)


async def is_auditor(slack: Notifier, policy: Policy, user: str) -> bool:
    return await is_owner(slack, user, policy.auditor_ids())


async def may_start(
    slack: Notifier, store: Store, policy: Policy, user: str, name: str, now: datetime, reply: Reply
) -> bool:
    if await is_requester(slack, policy, user):
        return True
    await store.audit(AuditNote(user, "release.start", "refused", {"release": name, "why": "not a requester"}), now)
    await reply(
        "You are not allowed to start releases here. Ask an admin to add you (or a user group you are in) "
        "to `requesters` in policy.yml. Your attempt was recorded."
    )
    return False


async def may_audit(slack: Notifier, store: Store, policy: Policy, user: str, now: datetime, reply: Reply) -> bool:
    if await is_auditor(slack, policy, user):
        return True
    await store.audit(AuditNote(user, "inspector.link", "refused", {"why": "not an auditor"}), now)
    default = "" if policy.auditors is not None else " (without that list, only phase owners may)"
    await reply(
        "You are not allowed to open the Audit Inspector. Ask an admin to add you (or a user group you are in) "
        f"to `auditors` in policy.yml{default}. Your attempt was recorded."
    )
    return False
