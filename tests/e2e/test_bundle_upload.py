"""CI uploads a bundle over the API; bad uploads are refused whole and leave nothing behind."""

from __future__ import annotations

import aiohttp
import pytest
import yaml

from bot.drill.samples import encode, photo
from tests.e2e.harness import API_TOKEN, REVIEWER, Env

PNG = encode(photo(120, 90, 4), "PNG")
MANIFEST = yaml.safe_dump(
    {
        "title": "Uploaded by CI",
        "images": [
            {"id": "tile", "candidate": "candidate/tile.png", "baseline": "baseline/tile.png", "alt": "A hill at dawn"}
        ],
    }
)


def _form(files: dict[str, bytes]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for rel, data in files.items():
        form.add_field("file", data, filename=rel, content_type="application/octet-stream")
    return form


async def _upload(env: Env, name: str, files: dict[str, bytes], token: str | None = API_TOKEN) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with env.session.post(f"{env.base}/api/v1/releases?name={name}", data=_form(files), headers=headers) as r:
        return r.status, await r.json()


async def test_uploaded_bundle_can_be_started(env: Env) -> None:
    status, body = await _upload(
        env, "ci-tile", {"release.yml": MANIFEST.encode(), "candidate/tile.png": PNG, "baseline/tile.png": PNG}
    )
    assert status == 201, body
    assert body["images"] == 1 and body["files"] == ["baseline/tile.png", "candidate/tile.png", "release.yml"]
    await env.start("ci-tile")
    msg = env.approval_message("ci-tile", "Preview")
    assert "Preview gates: PASS" in msg.rendered
    # While it is in progress its bundle cannot be swapped underneath the reviewers.
    status, body = await _upload(env, "ci-tile", {"release.yml": MANIFEST.encode()})
    assert status == 409 and "in progress" in body["error"]
    assert REVIEWER


async def test_bad_uploads_are_refused_and_leave_nothing(env: Env) -> None:
    cases = [
        ({"release.yml": MANIFEST.encode(), "../escape.png": PNG}, "'..' would leave the bundle"),
        ({"release.yml": MANIFEST.encode(), "/etc/cron.d/x": PNG}, "absolute paths are not allowed"),
        ({"release.yml": MANIFEST.encode(), "candidate/tile.png": PNG}, "were not uploaded: baseline/tile.png"),
        ({"release.yml": b"title: [unclosed"}, "not valid YAML"),
        ({"candidate/tile.png": PNG}, "release.yml is missing"),
    ]
    for files, message in cases:
        status, body = await _upload(env, "ci-bad", files)
        assert status == 400 and message in body["error"], (message, body)
    assert not (env.releases / "ci-bad").exists()
    assert not (env.releases.parent / "escape.png").exists()
    assert [p.name for p in env.releases.iterdir() if p.name.startswith(".upload")] == []
    status, _ = await _upload(env, "ci-bad", {"release.yml": MANIFEST.encode()}, token=None)
    assert status == 401
    status, body = await _upload(env, "Bad..Name", {"release.yml": MANIFEST.encode()})
    assert status == 400 and "release names" in body["error"]


async def test_odd_file_names_get_a_clear_400_and_leave_nothing(env: Env) -> None:
    base = {"release.yml": MANIFEST.encode(), "candidate/tile.png": PNG, "baseline/tile.png": PNG}
    cases: list[tuple[list[tuple[str, bytes]], str]] = [
        ([*base.items(), ("release.yml/x", PNG)], "clashes with another upload"),
        ([("candidate/tile.png/inner", PNG), *base.items()], "clashes with another upload"),
        ([*base.items(), (".", PNG)], "empty or '.' path segments"),
        ([*base.items(), ("candidate/.", PNG)], "empty or '.' path segments"),
        ([*base.items(), ("candidate/", PNG)], "empty or '.' path segments"),
        ([*base.items(), ("a" * 256 + ".png", PNG)], "at most 255 bytes"),
        ([*base.items(), ("candidate/tile.png", PNG)], "uploaded twice"),
        (
            [*base.items(), ("notes/unreferenced.bin", b"x" * 1000)],
            "files not named in release.yml: notes/unreferenced.bin",
        ),
    ]
    for parts, message in cases:
        form = aiohttp.FormData()
        for rel, data in parts:
            form.add_field("file", data, filename=rel, content_type="application/octet-stream")
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with env.session.post(f"{env.base}/api/v1/releases?name=ci-odd", data=form, headers=headers) as r:
            body = await r.json()
            assert r.status == 400 and message in body["error"], (message, r.status, body)
    # A control character, percent-encoded in the part's filename the way aiohttp clients send paths.
    boundary = "rgb0undary"
    raw = b""
    for rel, data in [*base.items(), ("candidate/ti%01le.png", PNG)]:
        raw += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{rel}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    raw += f"--{boundary}--\r\n".encode()
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with env.session.post(f"{env.base}/api/v1/releases?name=ci-odd", data=raw, headers=headers) as r:
        assert r.status == 400 and "control characters" in (await r.json())["error"]
    assert not (env.releases / "ci-odd").exists()
    assert [p.name for p in env.releases.iterdir() if p.name.startswith(".upload")] == []


async def test_an_upload_over_the_total_cap_is_413(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.http.bundles

    monkeypatch.setattr(bot.http.bundles, "MAX_UPLOAD_BYTES", 2 * len(PNG))
    status, body = await _upload(
        env, "ci-big", {"release.yml": MANIFEST.encode(), "candidate/tile.png": PNG, "baseline/tile.png": PNG}
    )
    assert status == 413 and "in all" in body["error"]
    assert not (env.releases / "ci-big").exists()


async def test_a_release_yml_over_one_megabyte_is_413(env: Env) -> None:
    huge = MANIFEST.encode() + b"#" * 1_000_001
    status, body = await _upload(
        env, "ci-yaml", {"release.yml": huge, "candidate/tile.png": PNG, "baseline/tile.png": PNG}
    )
    assert status == 413 and "release.yml is over 1,000,000 bytes" in body["error"]
    assert not (env.releases / "ci-yaml").exists()


async def test_an_uploaded_release_yml_is_parsed_off_the_event_loop(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import bot.http.bundles

    threads: list[str] = []
    real = bot.http.bundles.parse_bundle

    def spy(*a: object, **k: object) -> object:
        threads.append(threading.current_thread().name)
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(bot.http.bundles, "parse_bundle", spy)
    status, _ = await _upload(
        env, "ci-thread", {"release.yml": MANIFEST.encode(), "candidate/tile.png": PNG, "baseline/tile.png": PNG}
    )
    assert status == 201 and threads and threading.main_thread().name not in threads
