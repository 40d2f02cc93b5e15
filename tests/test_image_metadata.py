"""Reading embedded metadata from real files written with Pillow and piexif."""

from __future__ import annotations

import struct
from pathlib import Path

import piexif
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from bot.preview.images import inspect_image
from bot.preview.metadata import read_metadata
from bot.preview.runner import run_preview
from gates.bundle import parse_bundle
from gates.policy import MetadataConfig, PreviewGates, SensitivityConfig

XMP = b"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:exif="http://ns.adobe.com/exif/1.0/"
  exif:GPSLatitude="51,30.0N">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Election night</rdf:li>
<rdf:li xml:lang="de">Wahlabend</rdf:li></rdf:Alt></dc:title>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Kids at the rally</rdf:li></rdf:Alt></dc:description>
<dc:creator><rdf:Seq><rdf:li>Jane Doe</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"""


def exif_bytes(gps: bool = True) -> bytes:
    data: dict[str, dict[int, object]] = {
        "0th": {
            piexif.ImageIFD.ImageDescription: b"Guaranteed cure",
            piexif.ImageIFD.Artist: b"Jane Doe",
            piexif.ImageIFD.Copyright: b"ACME Ltd",
            piexif.ImageIFD.XPTitle: "Fr\u0435e gift".encode("utf-16-le") + b"\x00\x00",
            piexif.ImageIFD.Orientation: 6,
        },
        "Exif": {
            piexif.ExifIFD.UserComment: b"ASCII\x00\x00\x00risk-free offer",
            piexif.ExifIFD.BodySerialNumber: b"SN123",
            piexif.ExifIFD.CameraOwnerName: b"Jane Doe",
        },
        "GPS": {},
    }
    if gps:
        data["GPS"] = {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((51, 1), (30, 1), (0, 1)),
            piexif.GPSIFD.GPSLongitudeRef: b"W",
            piexif.GPSIFD.GPSLongitude: ((0, 1), (7, 1), (0, 1)),
        }
    return bytes(piexif.dump(data))


def iptc_segment(fields: dict[tuple[int, int], bytes]) -> bytes:
    iptc = b"".join(b"\x1c" + bytes(k) + struct.pack(">H", len(v)) + v for k, v in fields.items())
    if len(iptc) % 2:
        iptc += b"\x00"
    payload = b"Photoshop 3.0\x00" + b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    payload += iptc
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def srgb() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def test_jpeg_exif_xmp_iptc_gps_icc(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    Image.new("RGB", (40, 20), (200, 30, 30)).save(path, exif=exif_bytes(), xmp=XMP, icc_profile=srgb())
    raw = path.read_bytes()
    path.write_bytes(raw[:2] + iptc_segment({(2, 120): b"Tea that cures colds", (2, 105): b"Headline"}) + raw[2:])
    text, flags = read_metadata(path)
    assert text["ImageDescription"] == "Guaranteed cure"
    assert text["Artist"] == "Jane Doe"
    assert text["Copyright"] == "ACME Ltd"
    assert text["XPTitle"] == "Fr\u0435e gift"
    assert text["UserComment"] == "risk-free offer"
    assert text["xmp:dc:title"] == "Election night"  # x-default only
    assert text["xmp:dc:description"] == "Kids at the rally"
    assert text["xmp:dc:creator"] == "Jane Doe"
    assert text["iptc:caption"] == "Tea that cures colds"
    assert text["iptc:headline"] == "Headline"
    assert flags["gps"] == "present"
    assert flags["camera_serial"] == "present" and flags["camera_owner"] == "present"
    assert "srgb" in flags["icc_profile"].lower()


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_png_and_webp(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"a.{fmt}"
    im = Image.new("RGB", (10, 10))
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text("Description", "Miracle detox")
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        im.save(path, exif=exif_bytes(gps=False), pnginfo=info)
    else:
        im.save(path, exif=exif_bytes(gps=False), xmp=XMP)
    text, flags = read_metadata(path)
    assert text["ImageDescription"] == "Guaranteed cure"
    assert text["xmp:dc:title"] == "Election night"
    assert flags.get("gps") == "present"  # from the XMP exif:GPSLatitude attribute
    if fmt == "png":
        assert text["png:Description"] == "Miracle detox"


def test_clean_file_has_no_metadata(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (10, 10)).save(path)
    assert read_metadata(path) == ({}, {})


def test_utf16_user_comment(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    comment = b"UNICODE\x00" + "Garantiert gesund".encode("utf-16-le")
    exif = piexif.dump({"0th": {}, "Exif": {piexif.ExifIFD.UserComment: comment}})
    Image.new("RGB", (10, 10)).save(path, exif=exif)
    assert read_metadata(path)[0]["UserComment"] == "Garantiert gesund"


def test_xmp_with_entities_is_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    evil = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    Image.new("RGB", (10, 10)).save(path, xmp=evil)
    text, flags = read_metadata(path)
    assert text == {} and "xmp" in flags["unreadable"]


def test_inspect_image_fills_facts(tmp_path: Path) -> None:
    Image.new("RGB", (40, 20)).save(tmp_path / "a.jpg", exif=exif_bytes(), icc_profile=srgb())
    facts = inspect_image(tmp_path, "a.jpg", 10_000_000)
    assert facts.usable
    assert (facts.width, facts.height, facts.exif_orientation) == (20, 40, 6)
    assert facts.metadata_text["ImageDescription"] == "Guaranteed cure"
    assert facts.metadata_flags["gps"] == "present"
    assert facts.icc_profile_name is not None and "srgb" in facts.icc_profile_name.lower()


def test_preview_of_bundle_with_risky_caption_and_leaky_file(tmp_path: Path) -> None:
    (tmp_path / "candidate").mkdir()
    Image.new("RGB", (40, 20), (10, 120, 200)).save(
        tmp_path / "candidate" / "hero.jpg", exif=exif_bytes(), icc_profile=srgb()
    )
    bundle = parse_bundle(
        "title: Summer\n"
        "images:\n"
        "  - id: hero\n"
        "    candidate: candidate/hero.jpg\n"
        "    alt: Family walking on a beach\n"
        "    caption: This tea c\u200bures colds, gu\u0430ranteed\n"
    )
    gates = PreviewGates(sensitivity=SensitivityConfig(), metadata=MetadataConfig())
    report = run_preview(tmp_path, bundle, gates).to_json()
    assert report["status"] == "fail"
    sens = report["images"][0]["gates"]["sensitivity"]
    assert sens["status"] == "fail" and sens["critical"] >= 3
    caption = [f for f in report["findings"] if f["field"] == "caption"]
    assert {f["rule"] for f in caption} == {"sensitivity.health_claims", "sensitivity.regulated_claims"}
    assert any(f["field"] == "metadata.ImageDescription" for f in report["findings"])
    assert any(f["rule"] == "metadata.gps_leak" for f in report["findings"])
