"""The stand-in's packaged method facts must say exactly what Slack's reference method files say."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from bot.demo.standin.schemas import extract_method_facts, load_method_specs

PACKAGED = resources.files("bot.demo.standin").joinpath("methods")


def _packaged_names() -> list[str]:
    return sorted(entry.name for entry in PACKAGED.iterdir() if entry.name.endswith(".json"))


@pytest.fixture
def methods_reference(reference_dir: Path) -> Path:
    """Slack's Web API method descriptions, from the reference data (tests/reference.py)."""
    return reference_dir / "slack" / "methods"


# Parametrised by the packaged copies (in the repository), so the set of checks does not depend on
# whether the reference data is present; the test below checks both sets are the same.
@pytest.mark.parametrize("name", _packaged_names(), ids=lambda n: n.removesuffix(".json"))
def test_packaged_copy_matches_reference(methods_reference: Path, name: str) -> None:
    path = methods_reference / name
    reference = json.loads(path.read_text(encoding="utf-8"))
    packaged = json.loads(PACKAGED.joinpath(name).read_text(encoding="utf-8"))
    assert packaged == extract_method_facts(path.stem, reference)


def test_every_reference_method_is_packaged_and_nothing_else(methods_reference: Path) -> None:
    assert set(_packaged_names()) == {p.name for p in methods_reference.glob("*.json")}


def test_specs_load_from_the_package() -> None:
    specs = load_method_specs()
    assert specs["chat.postMessage"].required == ("token", "channel")
    assert "thread_ts" in specs["chat.postMessage"].args
    assert specs["auth.test"].success_example()["bot_id"]
