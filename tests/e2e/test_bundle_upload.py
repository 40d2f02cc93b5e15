"""CI uploads a bundle over the API; bad uploads are refused whole and leave nothing behind."""

from __future__ import annotations

import aiohttp
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
