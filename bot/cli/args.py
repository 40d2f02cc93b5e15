"""Argument types shared by the command groups, so every surface accepts the same names."""

from __future__ import annotations

import argparse

from bot.preview.bundle import check_name


def release_name(value: str) -> str:
    """``--release NAME``: the same rule as the slash command, the API and the inspector."""
    if problem := check_name(value):
        raise argparse.ArgumentTypeError(f"{value!r}: {problem}")
    return value
