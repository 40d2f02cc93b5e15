"""The decisions: phase model, policy, bundle schema and every quality gate.

Nothing in this package talks to Slack, a database, the network or a clock of its own;
callers pass in what a gate needs and get typed results back.
"""
