"""Reading the policy file named by RELEASEGATE_POLICY."""

from __future__ import annotations

from pathlib import Path

from gates.policy import Policy, PolicyError, default_policy, parse_policy


def load_policy(path: Path, *, required: bool) -> Policy:
    if not path.exists():
        if required:
            raise PolicyError(f"RELEASEGATE_POLICY: {path} not found (serve needs a policy naming the phase owners)")
        return default_policy()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"RELEASEGATE_POLICY: cannot read {path}: {exc}") from None
    return parse_policy(text, source=str(path))
