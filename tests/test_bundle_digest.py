"""The bundle digest: what changes it (a byte, a rename, a missing file) and what does not."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.drill.samples import summer_hero
from bot.preview.bundle import fingerprint, load_bundle
from gates.bundle import MISSING, bundle_digest, canonical_manifest


def _fp(releases: Path, name: str = "summer-hero"):  # type: ignore[no-untyped-def]
    loaded = load_bundle(releases, name)
    return fingerprint(loaded.root, loaded.bundle)


def test_same_files_same_digest_and_the_manifest_lists_every_referenced_file(tmp_path: Path) -> None:
    summer_hero(tmp_path)
    a, b = _fp(tmp_path), _fp(tmp_path)
    assert a.digest == b.digest and len(a.digest) == 64
    assert sorted(a.files) == [
        "baseline/hero-desktop.webp",
        "baseline/hero-mobile.webp",
        "candidate/hero-desktop.webp",
        "candidate/hero-mobile.webp",
        "candidate/promo-tile.png",
        "release.yml",
    ]
    size, sha = a.files["candidate/promo-tile.png"]
    assert size == (tmp_path / "summer-hero/candidate/promo-tile.png").stat().st_size and len(sha) == 64


def test_one_changed_byte_changes_the_digest_and_is_named(tmp_path: Path) -> None:
    summer_hero(tmp_path)
    before = _fp(tmp_path)
    f = tmp_path / "summer-hero/candidate/hero-mobile.webp"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    after = _fp(tmp_path)
    assert after.digest != before.digest
    assert after.changes_since(before.to_manifest()) == [
        f"candidate/hero-mobile.webp changed ({len(data):,} → {len(data):,} bytes)"
    ]


def test_a_renamed_file_changes_the_digest(tmp_path: Path) -> None:
    summer_hero(tmp_path)
    before = _fp(tmp_path)
    root = tmp_path / "summer-hero"
    (root / "candidate/promo-tile.png").rename(root / "candidate/promo.png")
    yml = root / "release.yml"
    yml.write_text(yml.read_text().replace("candidate/promo-tile.png", "candidate/promo.png"))
    after = _fp(tmp_path)
    assert after.digest != before.digest
    changes = after.changes_since(before.to_manifest())
    assert "candidate/promo.png is new" in changes and "candidate/promo-tile.png is missing" in changes
    assert any(c.startswith("release.yml changed") for c in changes)


def test_an_unreferenced_file_does_not_change_the_digest(tmp_path: Path) -> None:
    summer_hero(tmp_path)
    before = _fp(tmp_path)
    (tmp_path / "summer-hero/notes.txt").write_text("not shipped")
    shutil.copy(tmp_path / "summer-hero/candidate/promo-tile.png", tmp_path / "summer-hero/candidate/extra.png")
    assert _fp(tmp_path).digest == before.digest


def test_a_missing_file_still_takes_its_slot(tmp_path: Path) -> None:
    summer_hero(tmp_path)
    before = _fp(tmp_path)
    (tmp_path / "summer-hero/baseline/hero-desktop.webp").unlink()
    after = _fp(tmp_path)
    assert after.files["baseline/hero-desktop.webp"] == (0, MISSING) and after.digest != before.digest


def test_a_path_cannot_forge_another_manifest_line() -> None:
    # A tab or newline in a file name is escaped, so two different file sets never share bytes.
    one = {"a\n1 x": (1, "0" * 64)}
    two = {"a": (1, "0" * 64), "x": (1, "0" * 64)}
    assert canonical_manifest(one) != canonical_manifest(two)
    assert bundle_digest(one) != bundle_digest(two)
