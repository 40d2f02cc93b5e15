"""Storage rows → the view objects the Block Kit builders take."""

from __future__ import annotations

from bot.slack.blocks.release import DecisionView, ReleaseView
from gates.phases import Phase, Snapshot, State
from gates.policy import Policy
from storage.models import Decision, Release


def release_view(r: Release) -> ReleaseView:
    return ReleaseView(
        name=r.name,
        title=r.title,
        attempt=r.attempt,
        phase=Phase(r.phase),
        state=State(r.state),
        requested_by=r.requested_by,
        image_ids=[str(i["id"]) for i in r.bundle.get("images", [])],
        traffic_percent=r.traffic_percent,
    )


def decision_view(d: Decision) -> DecisionView:
    return DecisionView(phase=d.phase, decision=d.decision, by=d.by, at=d.at, comment=d.comment)


def snapshot(r: Release) -> Snapshot:
    return Snapshot(Phase(r.phase), State(r.state), State(r.paused_from) if r.paused_from else None)


def release_policy(r: Release) -> Policy:
    """The policy as it was when the release started: changing policy.yml mid-release changes nothing."""
    return Policy.model_validate(r.policy)
