"""mrkdwn escaping and the Markdown-summary conversion."""

from __future__ import annotations

from bot.slack.blocks.text import esc, markdown_to_mrkdwn, mention


def test_esc_neutralises_mentions_and_links() -> None:
    assert esc("<!channel> & <https://x|y>") == "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"


def test_group_and_user_mentions() -> None:
    assert mention("S0SREGROUP") == "<!subteam^S0SREGROUP>"
    assert mention("U0ABC") == "<@U0ABC>"


def test_markdown_summary_becomes_slack_text() -> None:
    md = "## Release report: <!here>\n**bold** text\n| a | b |\n|---|---|\n| 1 | 2 |\nafter"
    out = markdown_to_mrkdwn(md)
    assert out.splitlines()[0] == "*Release report: &lt;!here&gt;*"
    assert "*bold* text" in out
    assert "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```\nafter" in out


def test_report_markdown_reaches_slack_escaped_once() -> None:
    from bot.slack.blocks.text import markdown_to_mrkdwn

    # The report escapes user text itself; Slack must show it as typed, not as "&amp;lt;".
    md = "## Release report: spring &lt;sale&gt; &amp; co\n| a | <!channel> & b |"
    out = markdown_to_mrkdwn(md)
    assert "&amp;lt;" not in out and "&amp;amp;" not in out
    assert "*Release report: spring &lt;sale&gt; &amp; co*" in out
    assert "<!channel>" not in out and "&lt;!channel&gt; &amp; b" in out
