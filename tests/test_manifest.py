"""manifest.yml is what a workspace admin pastes into Slack: it must be valid, and it must declare
exactly what the running app answers (commands, interactivity, scopes), or installs break silently."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from slack_bolt.async_app import AsyncApp

from bot.app import build_web_app
from bot.listeners.register import register
from tests.e2e.harness import (
    PRODUCT,
    REQUESTER,
    REVIEWER,
    SECRET,
    SRE_MEMBER,
    STRANGER,
    TOKEN,
    Env,
    running_env,
)

REPO = Path(__file__).resolve().parents[1]
EVENTS_PATH = "/slack/events"


def load_manifest() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "manifest.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def manifest_commands(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["command"]: c for c in m.get("features", {}).get("slash_commands", [])}


def bot_scopes(m: dict[str, Any]) -> set[str]:
    return set(m.get("oauth_config", {}).get("scopes", {}).get("bot", []))


@pytest.fixture
def slack_reference(reference_dir: Path) -> Path:
    """Slack's manifest schema and Web API method descriptions, from the reference data (tests/reference.py)."""
    return reference_dir / "slack"


def method_bot_scopes(slack: Path) -> dict[str, list[str]]:
    """Web API method -> the bot scopes Slack accepts for it (any one is enough, e.g. conversations.open
    takes im:write for a DM or channels:manage for a channel)."""
    out: dict[str, list[str]] = {}
    for path in sorted((slack / "methods").glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        scope = spec.get("scope")  # views.publish says "none" where the others say {} for no scope
        out[path.stem] = list(scope.get("bot") or []) if isinstance(scope, dict) else []
    return out


def uncovered(slack: Path, methods: set[str], granted: set[str]) -> dict[str, list[str]]:
    needs = method_bot_scopes(slack)
    return {m: needs[m] for m in sorted(methods) if needs[m] and not granted.intersection(needs[m])}


# -- the file on its own -------------------------------------------------------------------------------


def test_manifest_is_valid_against_slacks_schema(slack_reference: Path) -> None:
    schema = json.loads((slack_reference / "manifest.schema.1.0.0.json").read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(
        validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER).iter_errors(load_manifest()),
        key=lambda e: list(e.absolute_path),
    )
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_manifest_points_slack_at_the_events_route() -> None:
    m = load_manifest()
    assert set(manifest_commands(m)) == {"/release"}
    for cmd in manifest_commands(m).values():
        assert urlparse(cmd["url"]).path == EVENTS_PATH
        assert urlparse(cmd["url"]).scheme == "https"
        assert cmd.get("usage_hint") and cmd.get("description")
    interactivity = m["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert urlparse(interactivity["request_url"]).path == EVENTS_PATH
    settings = m["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert m["features"]["bot_user"]["display_name"]


def test_bot_scopes_cover_every_method_the_stand_in_serves(slack_reference: Path) -> None:
    """The stand-in implements exactly the methods the bot uses, including ones a happy path never reaches
    (conversations.open happens only when an SLA runs out)."""
    served = {p.stem for p in (REPO / "bot" / "standin" / "methods").glob("*.json")}
    assert served <= set(method_bot_scopes(slack_reference)), "a stand-in method has no reference description"
    assert not uncovered(slack_reference, served, bot_scopes(load_manifest()))


def test_scope_check_has_teeth(slack_reference: Path) -> None:
    assert uncovered(slack_reference, {"chat.postMessage", "conversations.open"}, {"commands"}) == {
        "chat.postMessage": ["chat:write"],
        "conversations.open": ["channels:manage", "groups:write", "im:write", "mpim:write"],
    }
    assert not uncovered(slack_reference, {"auth.test", "views.open"}, set())  # no scope needed


# -- against the real app ------------------------------------------------------------------------------


class RecordingApp(AsyncApp):
    """A Bolt app that remembers what listeners were registered on it, so the test sees the app's own
    declarations rather than a hand-kept list."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registered: dict[str, list[Any]] = {}

    def _note(self, kind: str, key: Any) -> None:
        self.registered.setdefault(kind, []).append(key)

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self._note("command", command)
        return super().command(command, *args, **kwargs)

    def action(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self._note("action", constraints)
        return super().action(constraints, *args, **kwargs)

    def view(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self._note("view", constraints)
        return super().view(constraints, *args, **kwargs)

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self._note("shortcut", constraints)
        return super().shortcut(constraints, *args, **kwargs)

    def options(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self._note("options", constraints)
        return super().options(constraints, *args, **kwargs)

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        self._note("event", event)
        return super().event(event, *args, **kwargs)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with running_env(tmp_path) as e:
        yield e


async def test_everything_the_app_registers_is_declared(env: Env) -> None:
    m = load_manifest()
    app = RecordingApp(token=TOKEN, signing_secret=SECRET, client=env.lc.slack.client)
    register(app, env.lc)
    got = app.registered
    assert set(got.get("command", [])) == set(manifest_commands(m))
    if got.get("action") or got.get("view") or got.get("shortcut") or got.get("options"):
        assert m["settings"]["interactivity"]["is_enabled"] is True
    declared_shortcuts = {s["callback_id"] for s in m.get("features", {}).get("shortcuts", [])}
    assert set(got.get("shortcut", [])) == declared_shortcuts
    declared_events = set(m["settings"].get("event_subscriptions", {}).get("bot_events", []))
    assert set(got.get("event", [])) == declared_events

    assert env.bot is not None
    routes = {(r.method, r.resource.canonical) for r in build_web_app(env.bot).router.routes() if r.resource}
    assert ("POST", EVENTS_PATH) in routes


async def test_every_declared_command_is_answered_and_others_are_not(env: Env) -> None:
    for command in manifest_commands(load_manifest()):
        ans = await env.u.send_form(env.u.slash_form(REQUESTER, "help", command=command))
        assert ans.status == 200, f"{command}: {ans.status} {ans.text}"
    # Bolt answers 404 to a command nobody listens for; this shows the check above can fail.
    ans = await env.u.send_form(env.u.slash_form(REQUESTER, "help", command="/not-releasegate"))
    assert ans.status == 404


async def test_bot_scopes_cover_the_methods_a_full_release_calls(slack_reference: Path, env: Env) -> None:
    await env.start("summer-hero")
    await env.press(REVIEWER, env.approval_message("summer-hero", "Preview"), "approve")
    await env.press(SRE_MEMBER, env.approval_message("summer-hero", "Canary"), "approve")
    await env.decide_in_modal(PRODUCT, env.approval_message("summer-hero", "Global"), "approve_with_comment", "ship it")
    assert "completed" in env.root("summer-hero").rendered
    await env.u.slash(STRANGER, "status summer-hero")
    await env.settle()

    known = set(method_bot_scopes(slack_reference))
    called = {c.method for c in env.standin.calls if c.method in known}
    assert {"chat.postMessage", "chat.update", "usergroups.users.list", "views.open"} <= called
    assert not uncovered(slack_reference, called, bot_scopes(load_manifest()))
    # Anything else in the log must be the stand-in's own non-API endpoints (the byte upload, response_url).
    assert {c.method for c in env.standin.calls} - known <= {"upload", "response_url"}
    env.standin.assert_no_rejections()
