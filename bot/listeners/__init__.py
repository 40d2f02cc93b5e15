"""Bolt listeners: each acks first, then hands the work to the lifecycle in the background."""
