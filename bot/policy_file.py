"""Reading the policy file named by RELEASEGATE_POLICY."""

from __future__ import annotations

from pathlib import Path

from gates.policy import Policy, PolicyError, default_policy, parse_policy, with_terms_text


def load_policy(path: Path, *, required: bool) -> Policy:
    if not path.exists():
        if required:
            raise PolicyError(f"RELEASEGATE_POLICY: {path} not found (serve needs a policy naming the phase owners)")
        return default_policy()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"RELEASEGATE_POLICY: cannot read {path}: {exc}") from None
    return inline_terms(parse_policy(text, source=str(path)), path.parent)


def inline_terms(policy: Policy, base: Path) -> Policy:
    """Read the sensitivity gate's team terms file (relative to the policy file) into the policy."""
    cfg = policy.phases.preview.gates.sensitivity
    if cfg is None or cfg.terms_file is None or cfg.terms_text is not None:
        return policy
    terms = base / cfg.terms_file
    try:
        return with_terms_text(policy, terms.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"sensitivity terms_file {terms}: cannot read ({exc})") from None
