"""Packaged Slack Web API method descriptions (data only)."""
