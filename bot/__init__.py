"""Everything that talks: Slack app, HTTP API, CLI, timers, charts, the local Slack stand-in."""
