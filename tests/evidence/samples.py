"""Small real files of each kind fpic keeps, and of kinds it refuses, for the tests."""

from __future__ import annotations

import io
import zipfile

from fpic.demo import evidence as demo


def docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def zipped_shapefile() -> bytes:
    """A community's parcel as a shapefile, zipped as mapping tools export one."""
    import shapefile

    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON) as writer:
        writer.field("NAME", "C")
        writer.poly([[(-72.1, -13.5), (-72.0, -13.5), (-72.0, -13.4), (-72.1, -13.5)]])
        writer.record("Chacra comunal")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for part, data in (("shp", shp), ("shx", shx), ("dbf", dbf)):
            archive.writestr(f"parcel.{part}", data.getvalue())
    return out.getvalue()


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data)
    return out.getvalue()


#: name -> (bytes, the media type fpic must read from them)
ACCEPTED: dict[str, tuple[bytes, str]] = {
    "booklet.pdf": (demo.pdf("Willakuy", ["Ñawpa rimay — qillqa"]), "application/pdf"),
    "assembly.png": (demo.png(), "image/png"),
    "photo.jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200), "image/jpeg"),
    "presentation.wav": (demo.wav(0.05), "audio/x-wav"),
    "radio.mp3": (b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(300), "audio/mpeg"),
    "video.mp4": (
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(300),
        "video/mp4",
    ),
    "minutes.odt": (demo.odt("Acta", ["Tantanakuy."]), "application/vnd.oasis.opendocument.text"),
    "agreement.docx": (
        docx(),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    "territory.geojson": (
        demo.geojson("Ayllu", [(-72.1, -13.5), (-72.0, -13.5), (-72.0, -13.4)]),
        "application/geo+json",
    ),
    "sites.kml": (demo.kml("Puquio", (-72.08, -13.53)), "application/vnd.google-earth.kml+xml"),
    "parcel.zip": (zipped_shapefile(), "application/zip"),
}

#: name -> bytes fpic must refuse for their kind
REFUSED: dict[str, bytes] = {
    "page.html": b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    # a web page named as a PDF: the name is never trusted
    "minutes.pdf": b"<html><body onload=alert(1)>Minutes</body></html>",
    "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    # a GeoJSON-looking file carrying markup
    "map.geojson": b'{"type":"FeatureCollection","name":"<script>alert(1)</script>"}',
    "archive.zip": b"PK\x03\x04" + bytes(100),
    # an archive is kept only as a zipped shapefile: a web page first is not one
    "site.zip": zipped("index.html", b"<html><script>alert(1)</script></html>"),
    "program.exe": b"MZ\x90\x00" + bytes(100),
    "notes.txt": b"Just some plain text.",
}
