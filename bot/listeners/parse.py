"""Parsing `/release …` text into a command, or a usage problem."""

from __future__ import annotations

from dataclasses import dataclass

from bot.preview.bundle import check_name
from bot.slack.blocks.text import esc

SUBCOMMANDS = ("start", "status", "list", "pause", "resume", "rollback", "help", "drill", "inspector")
NEEDS_NAME = ("start", "pause", "resume", "rollback")


@dataclass(frozen=True)
class Command:
    verb: str
    name: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class UsageProblem:
    message: str


def parse(text: str) -> Command | UsageProblem:
    words = text.strip().split()
    if not words:
        return Command("help")
    verb, args = words[0].lower(), words[1:]
    if verb not in SUBCOMMANDS:
        shown = verb if len(verb) <= 40 else verb[:40] + "…"
        return UsageProblem(f"Unknown subcommand `{esc(shown)}`.")
    if verb == "drill":
        if not args:
            return Command("drill")
        if [a.lower() for a in args] == ["history"]:
            return Command("drill_history")
        return UsageProblem("`/release drill` runs a game-day drill; `/release drill history` compares past ones.")
    if verb in ("list", "help", "inspector"):
        return Command(verb) if not args else UsageProblem(f"`/release {verb}` takes no arguments.")
    if verb == "status":
        if len(args) > 1:
            return UsageProblem("`/release status` takes at most one release name.")
        if args and (problem := check_name(args[0])):
            return UsageProblem(problem)
        return Command("status", args[0] if args else None)
    if not args:
        return UsageProblem(f"`/release {verb}` needs a release name, e.g. `/release {verb} summer-hero`.")
    name = args[0]
    if problem := check_name(name):
        return UsageProblem(problem)
    if verb == "rollback":
        reason = " ".join(args[1:]).strip() or None
        return Command(verb, name, reason[:500] if reason else None)
    if len(args) > 1:
        return UsageProblem(f"`/release {verb}` takes one release name.")
    return Command(verb, name)
