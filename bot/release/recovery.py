"""After a restart: finish what a crash (kill -9, OOM, a redeploy) interrupted."""

from __future__ import annotations

import logging

from bot.release.flow import TERMINAL_STATES, Lifecycle
from bot.release.integrity import drift
from bot.release.views import release_policy
from gates.phases import Phase, State
from gates.result import GateResult

log = logging.getLogger(__name__)


async def recover(lc: Lifecycle) -> int:
    """After a restart: finish what a crash interrupted.

    Gates that were running run again; a root message or an approval request that was recorded
    but never posted is posted now (under the same outbox key, so one that did go out is not
    posted twice).
    """
    count = 0
    log.info("looking for releases interrupted by the last stop")
    for r in await lc.store.list_releases(limit=500):
        if r.state in TERMINAL_STATES:
            continue
        if not r.root_ts:
            await lc.post_root(r)
        request = await lc.store.open_request(r.id or 0)
        if request is not None and not request.message_ts and r.state in (State.AWAITING.value, State.BLOCKED.value):
            run = await lc.store.current_run(r.id or 0)
            if run is not None:
                results = [GateResult.from_dict(d) for d in request.gate_snapshot]
                await lc.post_results(r, run, results, request, release_policy(r))
                count += 1
        if r.state == State.RUNNING.value:
            run = await lc.store.current_run(r.id or 0)
            if r.phase != Phase.PREVIEW.value and (d := await drift(r)) is not None:
                await lc.stop_for_drift(r, d, "recovery after a restart")
                continue
            if run is not None and run.outcome == "running":
                lc.spawn(lc.run_gates(r.id or 0, run.id or 0), f"gates:{r.name}:recover", release=r.name)
                count += 1
    return count
