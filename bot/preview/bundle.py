"""Finding and checking a release bundle on disk before anything is created."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.preview.images import inspect_image, resolve_inside
from gates.bundle import (
    MISSING,
    RELEASE_NAME,
    Bundle,
    BundleError,
    bundle_digest,
    describe_changes,
    parse_bundle,
    referenced_paths,
)

MAX_BUNDLE_YAML_BYTES = 1_000_000


@dataclass(frozen=True)
class LoadedBundle:
    name: str
    root: Path
    bundle: Bundle


def check_name(name: str) -> str | None:
    """Why ``name`` cannot be a release name, or None. The one check every surface uses (slash command,
    API, inspector, CLI): the whole string must match, so ``"x\n"`` is refused, not read as ``x``."""
    if not RELEASE_NAME.fullmatch(name):
        return (
            "release names are lower-case letters, digits, '.', '_' or '-' (max 63), "
            "and name a folder in the releases directory"
        )
    return None


def load_bundle(releases_dir: Path, name: str) -> LoadedBundle:
    problem = check_name(name)
    if problem:
        raise BundleError(f"{name!r}: {problem}")
    if not releases_dir.is_dir():
        raise BundleError(f"releases directory {releases_dir} does not exist (RELEASEGATE_RELEASES_DIR)")
    root = releases_dir / name
    try:
        real_root = resolve_inside(releases_dir, name)
    except ValueError as exc:
        raise BundleError(str(exc)) from None
    manifest = real_root / "release.yml"
    if not manifest.is_file():
        raise BundleError(f"{name}/release.yml not found in {releases_dir}")
    if manifest.stat().st_size > MAX_BUNDLE_YAML_BYTES:
        raise BundleError(f"{name}/release.yml is over {MAX_BUNDLE_YAML_BYTES:,} bytes")
    try:
        text = manifest.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{name}/release.yml is not UTF-8 text") from None
    bundle = parse_bundle(text, source=f"{name}/release.yml")
    return LoadedBundle(name=name, root=root, bundle=bundle)


def precheck(loaded: LoadedBundle, max_pixels: int) -> list[str]:
    """Every referenced file exists inside the bundle and decodes; one line per problem.

    Runs the full decode, so callers run it off the event loop.
    """
    problems: list[str] = []
    for img in loaded.bundle.images:
        for rel in (img.candidate, img.baseline, img.logo.reference if img.logo else None):
            if rel is None:
                continue
            facts = inspect_image(loaded.root, rel, max_pixels)
            if facts.error:
                problems.append(f"{loaded.name}/{facts.error}")
    return problems


@dataclass(frozen=True)
class Fingerprint:
    """The bytes a release covers: ``release.yml`` and every referenced file (size, SHA-256)."""

    digest: str
    files: dict[str, tuple[int, str]]

    def to_manifest(self) -> list[dict[str, Any]]:
        return [{"path": p, "size": s, "sha256": h} for p, (s, h) in sorted(self.files.items())]

    @staticmethod
    def files_from_manifest(manifest: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
        return {str(m["path"]): (int(m["size"]), str(m["sha256"])) for m in manifest}

    def changes_since(self, manifest: list[dict[str, Any]]) -> list[str]:
        return describe_changes(self.files_from_manifest(manifest), self.files)

    def image_hashes(self, bundle: Bundle) -> dict[str, str]:
        """Each image id's candidate SHA-256: what a deployer checks before serving it."""
        return {img.id: self.files.get(img.candidate, (0, MISSING))[1] for img in bundle.images}


def _hash_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
            h.update(chunk)
    return size, h.hexdigest()


def fingerprint(root: Path, bundle: Bundle) -> Fingerprint:
    """Hash ``release.yml`` and every referenced file as they are on disk now (blocking: run in a thread).

    A file that is missing or leaves the bundle still takes a slot, so its absence changes the digest.
    """
    files: dict[str, tuple[int, str]] = {}
    for rel in ["release.yml", *referenced_paths(bundle)]:
        try:
            path = resolve_inside(root, rel)
            files[rel] = _hash_file(path)
        except (OSError, ValueError):
            files[rel] = (0, MISSING)
    return Fingerprint(bundle_digest(files), files)
