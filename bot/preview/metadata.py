"""Embedded metadata of an image file: the text that ships inside it, and what it gives away.

Text fields (EXIF, XMP, IPTC, PNG text chunks) feed the sensitivity scanner; flags (GPS, serial
numbers, the colour profile's name) feed the metadata gate. Reading metadata must never make an
otherwise good image unusable, so every parser here fails soft: a malformed block is skipped and
noted in ``flags["unreadable"]``.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, IptcImagePlugin

# A caption longer than this is not a caption; bounding it keeps the scanner's work bounded.
MAX_FIELD_CHARS = 4000

_BASE_TEXT_TAGS: Mapping[int, str] = {
    0x010E: "ImageDescription",
    0x013B: "Artist",
    0x8298: "Copyright",
}
# Windows "XP" tags are UTF-16LE byte strings.
_XP_TAGS: Mapping[int, str] = {0x9C9B: "XPTitle", 0x9C9C: "XPComment", 0x9C9D: "XPAuthor", 0x9C9F: "XPSubject"}
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_USER_COMMENT = 0x9286
_CAMERA_OWNER = 0xA430
_BODY_SERIAL = 0xA431
_LENS_SERIAL = 0xA435
_MAKER_NOTE = 0x927C

_IPTC_FIELDS: Mapping[tuple[int, int], str] = {
    (2, 5): "iptc:object-name",
    (2, 25): "iptc:keywords",
    (2, 80): "iptc:by-line",
    (2, 105): "iptc:headline",
    (2, 116): "iptc:copyright",
    (2, 118): "iptc:contact",
    (2, 120): "iptc:caption",
}
_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
}
_XMP_TEXT = {
    f"{{{_NS['dc']}}}title": "xmp:dc:title",
    f"{{{_NS['dc']}}}description": "xmp:dc:description",
    f"{{{_NS['dc']}}}creator": "xmp:dc:creator",
    f"{{{_NS['dc']}}}subject": "xmp:dc:subject",
    f"{{{_NS['photoshop']}}}Headline": "xmp:photoshop:Headline",
}
_XMP_GPS = re.compile(rb"exif:GPS(Latitude|Longitude)")
_PNG_XMP_KEY = "XML:com.adobe.xmp"


def _clean(value: str) -> str:
    value = value.replace("\x00", "").strip()
    return value[:MAX_FIELD_CHARS]


def _decode_bytes(raw: bytes) -> str:
    for enc in ("utf-8", "latin-1"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return ""  # unreachable: latin-1 decodes everything


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return bytes(v & 0xFF for v in value)
    return None


def _decode_user_comment(value: Any) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    raw = _as_bytes(value)
    if raw is None:
        return str(value) if isinstance(value, str) else ""
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        # Byte order follows the file, which Pillow does not tell us; the wrong order yields
        # CJK-looking noise, while the right one usually has NUL high bytes for Latin text.
        if body[1::2].count(0) >= body[0::2].count(0):
            return body.decode("utf-16-le", "replace")
        return body.decode("utf-16-be", "replace")
    if prefix.startswith((b"ASCII", b"\x00" * 8)) or prefix.startswith(b"JIS"):
        return _decode_bytes(body)
    return _decode_bytes(raw)


def _decode_xp(value: Any) -> str:
    raw = _as_bytes(value)
    if raw is None:
        return str(value) if isinstance(value, str) else ""
    return raw.decode("utf-16-le", "replace")


def _exif(im: Image.Image, text: dict[str, str], flags: dict[str, str]) -> None:
    exif = im.getexif()
    if not exif:
        return
    for tag, name in _BASE_TEXT_TAGS.items():
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = _decode_bytes(value)
        if isinstance(value, str) and _clean(value):
            text[name] = _clean(value)
    for tag, name in _XP_TAGS.items():
        if tag in exif and (value := _clean(_decode_xp(exif[tag]))):
            text[name] = value
    sub = exif.get_ifd(_EXIF_IFD)
    if _USER_COMMENT in sub and (comment := _clean(_decode_user_comment(sub[_USER_COMMENT]))):
        text["UserComment"] = comment
    if sub.get(_CAMERA_OWNER):
        flags["camera_owner"] = "present"
    if sub.get(_BODY_SERIAL):
        flags["camera_serial"] = "present"
    if sub.get(_LENS_SERIAL):
        flags["lens_serial"] = "present"
    if sub.get(_MAKER_NOTE):
        flags["maker_note"] = "present"
    gps = exif.get_ifd(_GPS_IFD)
    # Tags 2 and 4 are latitude and longitude; a GPS block with only a timestamp places nobody.
    if gps and (2 in gps or 4 in gps):
        flags["gps"] = "present"


def _xmp_packets(im: Image.Image) -> Iterable[bytes]:
    for key in ("xmp", _PNG_XMP_KEY):
        value = im.info.get(key)
        if isinstance(value, str):
            yield value.encode("utf-8")
        elif isinstance(value, bytes):
            yield value


def _xmp_value(el: ET.Element) -> str:
    items = [li.text or "" for li in el.iter(f"{{{_NS['rdf']}}}li")]
    # rdf:Alt lists the same text in several languages; the first (x-default) is enough.
    if el.find(f"{{{_NS['rdf']}}}Alt") is not None:
        items = items[:1]
    return "; ".join(i.strip() for i in items if i.strip()) if items else (el.text or "").strip()


def _xmp(im: Image.Image, text: dict[str, str], flags: dict[str, str]) -> None:
    for packet in _xmp_packets(im):
        if _XMP_GPS.search(packet):
            flags["gps"] = "present"
        # Entities are how XML parsers get attacked; real XMP never declares any.
        if b"<!ENTITY" in packet or b"<!DOCTYPE" in packet:
            flags["unreadable"] = "xmp (declares XML entities)"
            continue
        start = packet.find(b"<x:xmpmeta")
        if start < 0:
            start = packet.find(b"<rdf:RDF")
        end_tag = b"</x:xmpmeta>" if packet[start:].startswith(b"<x:xmpmeta") else b"</rdf:RDF>"
        end = packet.find(end_tag, start)
        if start < 0 or end < 0:
            flags["unreadable"] = "xmp"
            continue
        try:
            root = ET.fromstring(packet[start : end + len(end_tag)])
        except ET.ParseError:
            flags["unreadable"] = "xmp"
            continue
        for el in root.iter():
            name = _XMP_TEXT.get(el.tag)
            if name and (value := _clean(_xmp_value(el))):
                text.setdefault(name, value)
        for desc in root.iter(f"{{{_NS['rdf']}}}Description"):
            # Simple properties may also be written as attributes of rdf:Description.
            for attr, value in desc.attrib.items():
                if attr in _XMP_TEXT and _clean(value):
                    text.setdefault(_XMP_TEXT[attr], _clean(value))


def _iptc(im: Image.Image, text: dict[str, str]) -> None:
    try:
        info = IptcImagePlugin.getiptcinfo(im)  # type: ignore[arg-type]
    except (SyntaxError, ValueError, OSError, IndexError):
        return
    if not info:
        return
    for key, name in _IPTC_FIELDS.items():
        value = info.get(key)
        values = value if isinstance(value, list) else [value]
        parts = [_decode_bytes(v) if isinstance(v, bytes) else "" for v in values if v]
        if joined := _clean("; ".join(p for p in parts if p)):
            text[name] = joined


def _png_text(im: Image.Image, text: dict[str, str]) -> None:
    chunks = getattr(im, "text", None)
    if not isinstance(chunks, dict):
        return
    for key, value in chunks.items():
        if key == _PNG_XMP_KEY or not isinstance(value, str):
            continue
        if cleaned := _clean(value):
            text[f"png:{key}"] = cleaned


def _icc(im: Image.Image, flags: dict[str, str]) -> None:
    icc = im.info.get("icc_profile")
    if not icc:
        return
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(profile).strip()
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError):
        flags["icc_profile"] = "embedded"
        return
    flags["icc_profile"] = name or "embedded"


def metadata_of(im: Image.Image) -> tuple[dict[str, str], dict[str, str]]:
    """(text fields, flags) of an opened image; never raises for malformed metadata."""
    text: dict[str, str] = {}
    flags: dict[str, str] = {}
    steps: tuple[tuple[str, Callable[[], None]], ...] = (
        ("exif", lambda: _exif(im, text, flags)),
        ("xmp", lambda: _xmp(im, text, flags)),
        ("iptc", lambda: _iptc(im, text)),
        ("png text", lambda: _png_text(im, text)),
        ("icc", lambda: _icc(im, flags)),
    )
    for label, step in steps:
        try:
            step()
        except (ValueError, TypeError, KeyError, IndexError, OSError, SyntaxError, UnicodeError):
            flags["unreadable"] = label
    return text, flags


def read_metadata(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    with Image.open(path) as im:
        return metadata_of(im)
