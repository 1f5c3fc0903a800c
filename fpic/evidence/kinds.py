"""Which kinds of file fpic keeps as evidence, told from the content, never from the name.

The magic numbers of binary formats are read by ``filetype`` (a small, pure-Python library
maintained for this job, with no system libmagic to install); the two text formats a
community's map comes in, GeoJSON and KML, are recognised here, and so is the one archive a map
comes in, a zipped shapefile (its first member is a part of a shapefile). Everything else is
refused: HTML, SVG and other active content, other archives, programs.
"""

from __future__ import annotations

import re

import filetype

#: the media types accepted, with the file name extensions each is saved under
ALLOWED: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "image/tiff": ("tif", "tiff"),
    "image/heic": ("heic",),
    "image/avif": ("avif",),
    "audio/mpeg": ("mp3",),
    "audio/mp4": ("m4a",),
    "audio/aac": ("aac",),
    "audio/ogg": ("ogg", "oga", "opus"),
    "audio/x-flac": ("flac",),
    "audio/x-wav": ("wav",),
    "audio/amr": ("amr",),
    "video/mp4": ("mp4",),
    "video/x-m4v": ("m4v",),
    "video/3gpp": ("3gp",),
    "video/webm": ("webm",),
    "video/x-matroska": ("mkv",),
    "video/quicktime": ("mov",),
    "video/x-msvideo": ("avi",),
    "video/mpeg": ("mpg", "mpeg"),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "application/vnd.oasis.opendocument.presentation": ("odp",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    "application/geo+json": ("geojson", "json"),
    "application/vnd.google-earth.kml+xml": ("kml",),
    "application/zip": ("zip",),
}
#: the parts of a shapefile: a zip archive whose first member is one of these is a map
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
#: how much of the start of a file its kind is told from
HEAD_SIZE = 8192

GEOJSON_TYPES = (
    "FeatureCollection", "Feature", "Point", "MultiPoint", "LineString", "MultiLineString",
    "Polygon", "MultiPolygon", "GeometryCollection",
)  # fmt: skip
_GEOJSON = re.compile(r'^\s*\{.*?"type"\s*:\s*"(?:' + "|".join(GEOJSON_TYPES) + r')"', re.DOTALL)
# an XML declaration and comments, then the root element kml in one of KML's namespaces
_KML = re.compile(
    r'^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<kml\b[^>]*xmlns\s*=\s*["\']'
    r'http://(?:www\.opengis\.net/kml/2\.2|earth\.google\.com/kml/2\.[0-2])["\']',
    re.DOTALL,
)
#: markup a browser would run, refused in any text file whatever it claims to be
_ACTIVE = re.compile(r"<!DOCTYPE|<html|<script|<iframe|<svg|<body|javascript:", re.IGNORECASE)


def media_type_of(head: bytes) -> str | None:
    """The accepted media type of a file starting with ``head``, or None when refused."""
    guess = filetype.guess_mime(head)
    if guess == "application/zip":
        return guess if _first_member(head).lower().endswith(SHAPEFILE_PARTS) else None
    if guess is not None:
        return guess if guess in ALLOWED else None
    return _text_type(head)


def _first_member(head: bytes) -> str:
    """The name in a zip archive's first local file header (APPNOTE.TXT 4.3.7): the name's
    length at offset 26, the name at 30."""
    if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
        return ""
    length = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + length].decode("utf-8", errors="replace")


def _text_type(head: bytes) -> str | None:
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="ignore")
    if _ACTIVE.search(text):
        return None
    if _GEOJSON.match(text):
        return "application/geo+json"
    if _KML.match(text):
        return "application/vnd.google-earth.kml+xml"
    return None


def extensions(media_type: str) -> tuple[str, ...]:
    return ALLOWED.get(media_type, ())
