"""Accepting a finding with a reason (owners only; a critical one needs two different owners)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.release.flow import Lifecycle
from bot.release.owner_commands import transition
from bot.release.views import release_policy
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import esc
from gates.acceptance import Acceptance, accepted_keys, finding_key
from gates.phases import Event, Phase, RequestState
from gates.result import GateResult


async def accept_finding(
    lc: Lifecycle, request_id: int, user: str, key: str, reason: str, reply: Callable[[str], Awaitable[None]]
) -> None:
    """An owner accepts one finding; once it counts as accepted, the gates run again with it set aside."""
    request = await lc.store.approval_request(request_id)
    release = await lc.store.release(request.release_id) if request else None
    if request is None or release is None or request.state != RequestState.AWAITING:
        await reply("This request is no longer open; nothing changed.")
        return
    owners = release_policy(release).owners(Phase(request.phase))
    if not await lc.owner_or_refuse(
        release,
        Phase(request.phase),
        user,
        "finding.accept",
        "accept a finding",
        reply,
        label="phase",
        name_owners=False,
    ):
        return
    results = [GateResult.from_dict(d) for d in request.gate_snapshot]
    finding = next((f for r in results for f in r.findings if finding_key(f) == key), None)
    if finding is None:
        await reply("That finding is not part of this request.")
        return
    if not await lc.store.accept_finding(
        release, finding_key=key, severity=finding.severity, by=user, reason=reason, now=lc.clock()
    ):
        await reply("You already accepted that finding.")
        return
    all_acceptances = [Acceptance(a.finding_key, a.by, a.reason) for a in await lc.store.acceptances(release.id or 0)]
    done = key in accepted_keys(all_acceptances, {key: finding.severity})
    what = f"*{esc(finding.rule)}* on `{esc(finding.image_id or 'release')}`"
    if not done:
        await lc.thread(
            release,
            f"{release.name}: finding accepted (1 of 2)",
            [
                release_blocks.section(
                    f"🛑 <@{user}> accepted critical finding {what}: “{esc(reason)}”. A critical finding needs a "
                    f"second owner: {release_blocks.mentions(owners.primary + owners.backup)}."
                )
            ],
        )
        return
    await lc.thread(
        release,
        f"{release.name}: finding accepted",
        [
            release_blocks.section(
                f"✅ <@{user}> accepted finding {what}: “{esc(reason)}”. Re-running the gates with it set aside."
            )
        ],
    )
    await transition(lc, release, Event.RERUN, user, reply, reason=f"finding {key} accepted")
