"""Small, real evidence files for the demo cases, made on the spot: a PDF document, a PNG
photo, a WAV recording, an ODF text, a GeoJSON map and a KML map, each in the language given.

They are generated rather than shipped so that the demo shows files of every family fpic keeps
(documents, images, audio, maps) without binary blobs in the repository; each is a valid file
of its kind that the usual programs open.
"""

from __future__ import annotations

import functools
import io
import json
import math
import struct
import wave
import zipfile
import zlib
from collections.abc import Callable

from fpic.evidence.intake import ReceivedFile, receive


def pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF with ``title`` and ``lines`` in Helvetica (Latin-1 text)."""

    def literal(text: str) -> str:
        raw = text.encode("latin-1", errors="replace").decode("latin-1")
        return "(" + raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    rows = [f"BT /F1 16 Tf 56 780 Td {literal(title)} Tj ET"]
    rows += [
        f"BT /F1 11 Tf 56 {750 - 16 * i} Td {literal(line)} Tj ET" for i, line in enumerate(lines)
    ]
    stream = "\n".join(rows).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def png(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    """A small RGB picture: a landscape of hills under a sky, varied by ``seed``."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # no filter
        for x in range(width):
            hill = height * (0.55 + 0.15 * math.sin((x + seed * 7) / 11))
            if y > hill:
                rows += bytes((40 + (x * 3 + seed) % 50, 110 + y % 40, 50))
            else:
                rows += bytes((150 + y, 190 + y // 2, 235))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float = 0.6, pitch: float = 220.0) -> bytes:
    """A short mono recording (8 kHz, 16 bit): a tone standing for the spoken presentation."""
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * pitch * n / rate)))
        for n in range(int(rate * seconds))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as recording:
        recording.setnchannels(1)
        recording.setsampwidth(2)
        recording.setframerate(rate)
        recording.writeframes(frames)
    return out.getvalue()


def odt(title: str, paragraphs: list[str]) -> bytes:
    """An OpenDocument text: the mimetype first and uncompressed, as ODF requires."""
    from xml.sax.saxutils import escape

    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text_ns = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    body = "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<office:document-content xmlns:office="{office}" xmlns:text="{text_ns}" '
        'office:version="1.3"><office:body><office:text>'
        f"<text:h>{escape(title)}</text:h>{body}"
        "</office:text></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text",
            compress_type=zipfile.ZIP_STORED,
        )  # fmt: skip
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def geojson(name: str, ring: list[tuple[float, float]]) -> bytes:
    """A FeatureCollection with one polygon (lon, lat), named in the community's language."""
    closed = [*ring, ring[0]]
    feature = {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in closed]]},
    }
    collection = {"type": "FeatureCollection", "features": [feature]}
    return json.dumps(collection, ensure_ascii=False, indent=1).encode()


def kml(name: str, point: tuple[float, float]) -> bytes:
    from xml.sax.saxutils import escape

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark>'
        f"<name>{escape(name)}</name><Point><coordinates>{point[0]},{point[1]},0"
        "</coordinates></Point></Placemark></Document></kml>\n"
    ).encode()


def received(name: str, content: bytes) -> ReceivedFile:
    """A generated file as an upload is received (checked, hashed, named)."""
    found = receive(io.BytesIO(content), name)
    if not isinstance(found, ReceivedFile):
        raise ValueError(f"the demo's {name} was refused: {found.code}")
    return found


class DemoFiles:
    """The demo's evidence, each file made once and received once (the same bytes listed by
    several actions are stored once, as in real use)."""

    def __init__(self) -> None:
        self._made: dict[str, ReceivedFile] = {}

    def _file(self, name: str, make: Callable[[], bytes]) -> ReceivedFile:
        if name not in self._made:
            self._made[name] = received(name, make())
        return self._made[name]

    def disclosure(
        self, item: str, title: str, language: str, formats: list[str]
    ) -> list[ReceivedFile]:
        """The booklet in the language (written), the presentation's recording (oral, audio)
        and, for the affected areas, the map of the territory."""
        found = []
        if "written" in formats or "visual" in formats:
            found.append(
                self._file(
                    f"{item}-{language}.pdf",
                    lambda: pdf(title, [f"{item.replace('_', ' ')} — {language}", *_LINES]),
                )
            )
        if "oral" in formats or "audio" in formats:
            pitch = 180.0 + 20 * (sum(map(ord, language)) % 7)
            found.append(self._file(f"presentation-{language}.wav", lambda: wav(0.6, pitch)))
        if item == "affected_areas":
            found.extend(self.territory(title))
        return found

    def territory(self, name: str) -> list[ReceivedFile]:
        return [self._file("territory.geojson", lambda: geojson(name, _TERRITORY))]

    def minutes(self, language: str, text: str) -> list[ReceivedFile]:
        return [
            self._file(f"minutes-{language}.odt", lambda: odt("Acta", [text])),
            self._file("assembly-photo.png", lambda: png(seed=1)),
        ]

    def signed(self, name: str, title: str) -> list[ReceivedFile]:
        return [self._file(name, lambda: pdf(title, ["Firmado / signed:", *_SIGNATURES]))]

    def photos(self) -> list[ReceivedFile]:
        return [self._file(f"site-{n}.png", functools.partial(png, seed=n)) for n in (2, 3)]

    def sacred_sites(self) -> list[ReceivedFile]:
        """Where the sacred spring is: confidential to the community (and its facilitator)."""
        return [self._file("sacred-sites.kml", lambda: kml("Puquio", (-72.081, -13.532)))]

    def statement(self, text: str) -> list[ReceivedFile]:
        return [self._file("statement.pdf", lambda: pdf("Declaración", [text]))]


_LINES = [
    "Resumen del proyecto, sus impactos y beneficios.",
    "Project summary: its impacts and benefits.",
]
_SIGNATURES = ["Presidente de la asamblea", "Secretaria de actas", "Country manager"]
_TERRITORY = [(-72.10, -13.55), (-72.05, -13.55), (-72.05, -13.51), (-72.10, -13.51)]
