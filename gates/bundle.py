"""The release bundle (``release.yml``): what images ship, where they live, how to judge them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Used with fullmatch: ``$`` alone would accept a trailing newline.
RELEASE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class BundleError(ValueError):
    """release.yml is malformed or points outside the bundle; the message names file and problem."""


# What every common filesystem accepts: 255 bytes per name, and a sane bound on the whole path.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024


def check_relative_path(value: str) -> str:
    """Refuse any path that could leave the bundle, before the filesystem is touched.

    Symlinks that point out are caught later by the loader, which resolves them.
    """
    if not value or not value.strip():
        raise ValueError("path is empty")
    if "\x00" in value or "\\" in value:
        raise ValueError(f"{value!r}: backslashes and NUL bytes are not allowed in paths")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{value!r}: control characters are not allowed in paths")
    if len(value.encode("utf-8")) > MAX_PATH_BYTES:
        raise ValueError(f"{value[:40]!r}…: paths are at most {MAX_PATH_BYTES} bytes")
    p = PurePosixPath(value)
    if p.is_absolute() or re.match(r"^[A-Za-z]:", value):
        raise ValueError(f"{value!r}: absolute paths are not allowed; paths are relative to the bundle")
    parts = value.split("/")
    if any(part == ".." for part in parts):
        raise ValueError(f"{value!r}: '..' would leave the bundle")
    # "." , "a//b" and "candidate/" name no file, or the same file under two spellings.
    if any(part in ("", ".") for part in parts):
        raise ValueError(f"{value!r}: empty or '.' path segments are not allowed (name a file)")
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        raise ValueError(f"{value[:40]!r}…: a file or folder name is at most {MAX_NAME_BYTES} bytes")
    return value


class LogoRegion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    x: int = Field(ge=0)
    y: int = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    reference: str

    @field_validator("reference")
    @classmethod
    def _ref(cls, v: str) -> str:
        return check_relative_path(v)


class BundleImage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    candidate: str
    baseline: str | None = None
    alt: str | None = None
    page: str | None = None
    caption: str | None = None
    title: str | None = None
    locale: str | None = None
    decorative: bool = False
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    # Declared on purpose: a resized or re-cropped candidate is compared after resampling
    # instead of failing on mismatched dimensions / aspect ratio.
    resize: bool = False
    crop: bool = False
    logo: LogoRegion | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"{v!r}: image ids are letters, digits, '.', '_' or '-' (max 100)")
        return v

    @field_validator("candidate", "baseline")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        return None if v is None else check_relative_path(v)


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=300)
    images: list[BundleImage] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Bundle:
        seen: set[str] = set()
        for img in self.images:
            if img.id in seen:
                raise ValueError(f"image id {img.id!r} appears twice")
            seen.add(img.id)
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)


def parse_bundle(text: str, source: str = "release.yml") -> Bundle:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BundleError(f"{source}: not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{source}: expected a mapping with 'title' and 'images'")
    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise BundleError(f"{source}: {where}: {msg}") from exc


# -- the bundle digest: what an approval covers ------------------------------------------

DIGEST_VERSION = "releasegate.bundle.v1"


def referenced_paths(bundle: Bundle) -> list[str]:
    """Every file the bundle ships or is judged against, each once, in a stable order."""
    seen: dict[str, None] = {}
    for img in bundle.images:
        for rel in (img.candidate, img.baseline, img.logo.reference if img.logo else None):
            if rel is not None:
                seen.setdefault(str(PurePosixPath(rel)), None)
    return sorted(seen)


def canonical_manifest(files: Mapping[str, tuple[int, str]]) -> bytes:
    """The bytes the digest is taken over: one line per file, ``release.yml`` included.

    JSON-escaped paths keep a tab or newline inside a file name from forging another line.
    """
    lines = [DIGEST_VERSION]
    for path in sorted(files):
        size, sha = files[path]
        lines.append(f"{json.dumps(path, ensure_ascii=True)} {size} {sha}")
    return ("\n".join(lines) + "\n").encode("ascii")


def bundle_digest(files: Mapping[str, tuple[int, str]]) -> str:
    """SHA-256 over the canonical manifest of ``release.yml`` and every referenced file."""
    return hashlib.sha256(canonical_manifest(files)).hexdigest()


def describe_changes(approved: Mapping[str, tuple[int, str]], now: Mapping[str, tuple[int, str]]) -> list[str]:
    """What differs between two manifests, one short line per file, for the thread and the audit."""
    out: list[str] = []
    for path in sorted(set(approved) | set(now)):
        before, after = approved.get(path), now.get(path)
        if before == after:
            continue
        if after is None or after[1] == MISSING:
            out.append(f"{path} is missing")
        elif before is None:
            out.append(f"{path} is new")
        else:
            out.append(f"{path} changed ({before[0]:,} → {after[0]:,} bytes)")
    return out


# The SHA-256 slot of a referenced file that is not on disk (it still counts towards the digest).
MISSING = "missing"
