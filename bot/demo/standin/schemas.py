"""The facts the stand-in needs about each Slack Web API method.

The packaged ``methods/*.json`` files are trimmed copies of the slack-api-ref method descriptions
(``slack/methods`` in the reference data: ``$RELEASEGATE_REFERENCE_DIR``, by default
``../shared/reference``): only the HTTP verb, argument names, required arguments, documented error
codes and example responses. They ship inside the package because ``releasegate demo`` runs from an
installed wheel where the shared reference tree does not exist.

Regenerate them with ``python -m bot.demo.standin.schemas [METHODS_DIR]``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["MethodSpec", "extract_method_facts", "load_method_specs", "write_packaged_methods"]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    http_method: str
    required: tuple[str, ...]
    args: tuple[str, ...]
    errors: tuple[str, ...]
    examples: dict[str, Any] = field(default_factory=dict)

    def success_example(self) -> dict[str, Any]:
        """A fresh copy of the documented success response, for handlers to fill in."""
        # auth.test documents a user-token success first; the bot only ever holds bot tokens.
        for key in ("success_with_bot_token", "success"):
            if key in self.examples:
                copied: dict[str, Any] = json.loads(json.dumps(self.examples[key]))
                return copied
        return {"ok": True}


def extract_method_facts(name: str, reference: dict[str, Any]) -> dict[str, Any]:
    """Reduce one slack-api-ref method description to the facts the stand-in uses."""
    args = reference.get("args", {})
    return {
        "method": name,
        "http_method": reference.get("http_method", "POST"),
        "required": list(args.get("required", [])),
        "args": list(args.get("properties", {})),
        "errors": list(reference.get("errors", [])),
        "examples": {key: value["example"] for key, value in reference.get("examples", {}).items()},
    }


def write_packaged_methods(reference_dir: Path, out_dir: Path) -> list[str]:
    """Regenerate the packaged copies from the reference files; returns the method names written."""
    written: list[str] = []
    for path in sorted(reference_dir.glob("*.json")):
        name = path.stem
        facts = extract_method_facts(name, json.loads(path.read_text(encoding="utf-8")))
        (out_dir / path.name).write_text(json.dumps(facts, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        written.append(name)
    return written


@cache
def load_method_specs() -> dict[str, MethodSpec]:
    specs: dict[str, MethodSpec] = {}
    folder = resources.files("bot.demo.standin").joinpath("methods")
    for entry in folder.iterdir():
        if not entry.name.endswith(".json"):
            continue
        facts = json.loads(entry.read_text(encoding="utf-8"))
        specs[facts["method"]] = MethodSpec(
            name=facts["method"],
            http_method=facts["http_method"],
            required=tuple(facts["required"]),
            args=tuple(facts["args"]),
            errors=tuple(facts["errors"]),
            examples=facts["examples"],
        )
    return specs


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    root = Path(os.environ.get("RELEASEGATE_REFERENCE_DIR") or "../shared/reference")
    reference = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "slack" / "methods"
    if not reference.is_dir():
        sys.exit(f"no Slack method descriptions at {reference} (pass a folder or set RELEASEGATE_REFERENCE_DIR)")
    target = Path(__file__).with_name("methods")
    print("\n".join(write_packaged_methods(reference, target)))
