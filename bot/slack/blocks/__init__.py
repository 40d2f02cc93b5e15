"""Block Kit builders: pure functions from our data to Slack message dicts."""
