"""The end of a release: the final summary, the report, and the 24-hour review reminder."""

from __future__ import annotations

from bot.artifacts.report import collect_report, review_template, write_report
from bot.release.core import (
    REVIEW_AFTER,
    REVIEW_TIMER,
    FlowCore,
)
from bot.release.views import decision_view, release_view
from bot.slack.blocks import release as release_blocks
from bot.slack.blocks.text import markdown_to_mrkdwn
from gates.phases import State
from storage.evidence import ContentStore
from storage.models import Release, Timer


class Summaries(FlowCore):
    async def _final_summary(self, release: Release) -> None:
        decisions = [decision_view(d) for d in await self.store.decisions(release.id or 0)]
        view = release_view(release)
        if release.state == State.COMPLETED.value:
            await self.safe(f"writing the report of {release.name}", self._post_report(release))
        await self.thread(
            release,
            f"{release.name}: {release_blocks.state_words(view.state)}",
            release_blocks.final_summary_blocks(view, decisions),
        )

    async def _post_report(self, release: Release) -> None:
        """The final report: Markdown summary in the thread, the self-contained HTML as a file,
        and the 24-hour review scheduled as a durable timer."""
        digest, markdown = await write_report(self.store, self.artifacts_dir, release.name, self.clock())
        html = ContentStore(self.artifacts_dir).path(digest).read_bytes()
        await self.thread(
            release, f"{release.name} report", [release_blocks.section(markdown_to_mrkdwn(markdown)[:2900])]
        )
        await self.slack_for(release).upload(
            release.channel_id, release.root_ts, f"{release.name}-report.html", html, f"Release report ({digest[:12]})"
        )
        due = self.clock() + REVIEW_AFTER
        await self.store.schedule_timer(REVIEW_TIMER, release.id or 0, due, key=f"{REVIEW_TIMER}:{release.id}")

    async def on_review_due(self, timer: Timer) -> None:
        """A day after completion: ask the team for the post-release review, in the thread."""
        release = await self.store.release(timer.target_id)
        if release is None:
            return
        data = await collect_report(self.store, self.artifacts_dir, release.name, self.clock(), embed=False)
        text = review_template(data, self.clock())
        blocks = [release_blocks.section(markdown_to_mrkdwn(text))]
        await self.thread(release, f"{release.name}: 24-hour review", blocks)
