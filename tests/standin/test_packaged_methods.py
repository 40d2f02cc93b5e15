"""The stand-in's packaged method facts must say exactly what the shared reference files say."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from bot.demo.standin.schemas import extract_method_facts, load_method_specs

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "slack" / "methods"
PACKAGED = resources.files("bot.demo.standin").joinpath("methods")


def _reference_files() -> list[Path]:
    return sorted(REFERENCE.glob("*.json")) if REFERENCE.is_dir() else []


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference tree not present")
@pytest.mark.parametrize("path", _reference_files(), ids=lambda p: p.stem)
def test_packaged_copy_matches_reference(path: Path) -> None:
    reference = json.loads(path.read_text(encoding="utf-8"))
    packaged = json.loads(PACKAGED.joinpath(path.name).read_text(encoding="utf-8"))
    assert packaged == extract_method_facts(path.stem, reference)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference tree not present")
def test_every_reference_method_is_packaged_and_nothing_else() -> None:
    packaged = {entry.name for entry in PACKAGED.iterdir() if entry.name.endswith(".json")}
    assert packaged == {p.name for p in _reference_files()}


def test_specs_load_from_the_package() -> None:
    specs = load_method_specs()
    assert specs["chat.postMessage"].required == ("token", "channel")
    assert "thread_ts" in specs["chat.postMessage"].args
    assert specs["auth.test"].success_example()["bot_id"]
