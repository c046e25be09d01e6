"""A user's documents made by the libraries that make them: DOCX (python-docx), XLSX (openpyxl), PDF (reportlab),
JPEG with EXIF (Pillow + piexif).

Each is a pure function of its text, its author and its times, byte-identical on any machine:

- every time a library would take from the clock is given from the case: DOCX and XLSX core properties
  (``dcterms:created``/``modified``; openpyxl's ``save_workbook`` stamps "now", so its ``ExcelWriter`` is called
  directly), the PDF's ``CreationDate``/``ModDate`` (reportlab's document time stamp, ``invariant=1`` for the
  document ID);
- nothing depends on the machine's zlib: DOCX and XLSX are re-packed into a stored (uncompressed) ZIP, entries in
  the library's order, each dated 1980-01-01 as Office dates them (a stored OOXML package is valid: Word, Excel
  and LibreOffice open it); the PDF is written with ``pageCompression=0`` and the base-14 fonts (no font program,
  no compressed stream at all);
- the JPEG's pixels come from Pillow's drawing primitives (integer arithmetic, no noise generator) and are
  encoded by the libjpeg-turbo that Pillow's pinned wheel bundles (integer DCT, fixed quality, no optimisation
  pass); tests/test_linux_artefacts_documents.py holds the SHA-256 of a reference image, so a Pillow whose
  encoder writes other bytes fails the suite instead of changing evidence.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import UTC, datetime

OFFICE_EPOCH = (1980, 1, 1, 0, 0, 0)


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC).replace(tzinfo=None)


def restored(package: bytes) -> bytes:
    """An OOXML package re-packed as a stored ZIP: same entries, same order, fixed dates, no compressor."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        first = ("[Content_Types].xml", "_rels/.rels")  # where Office puts them, and where file(1) looks
        entries = sorted(src.infolist(), key=lambda i: first.index(i.filename) if i.filename in first else 2)
        for info in entries:
            entry = zipfile.ZipInfo(info.filename, date_time=OFFICE_EPOCH)
            entry.create_system = 0  # MS-DOS, as Office writes it
            entry.external_attr = 0
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def docx(title: str, paragraphs: list[str], author: str, created: int, modified: int, revision: int = 3) -> bytes:
    """A Word document: a heading, paragraphs, the author and times in its core properties."""
    from docx import Document

    doc = Document()
    doc.add_heading(title, level=1)
    for text in paragraphs:
        doc.add_paragraph(text)
    props = doc.core_properties
    props.title, props.author, props.last_modified_by = title, author, author
    props.created, props.modified, props.revision = _utc(created), _utc(modified), revision
    props.comments = props.subject = props.keywords = props.category = ""
    props.last_printed = _utc(created)
    buf = io.BytesIO()
    doc.save(buf)
    return restored(buf.getvalue())


def xlsx(title: str, header: list[str], rows: list[list[object]], author: str, created: int, modified: int) -> bytes:
    """An Excel workbook with one sheet: a header row, then ``rows``; author and times in its core properties."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.properties.creator = wb.properties.lastModifiedBy = author
    wb.properties.title = title
    wb.properties.created, wb.properties.modified = _utc(created), _utc(modified)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # not save_workbook(): it stamps properties.modified with the clock
    return restored(buf.getvalue())


def pdf(lines: list[str], title: str, author: str, created: int) -> bytes:
    """A one-column text PDF (A4, Helvetica), dated ``created`` (UTC), uncompressed."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import TimeStamp
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=A4, invariant=1, pageCompression=0)
    stamp = TimeStamp(invariant=1)
    stamp.t = float(created)
    stamp.lt = datetime.fromtimestamp(created, tz=UTC).timetuple()
    stamp.YMDhms = tuple(stamp.lt)[:6]
    c._doc._timeStamp = stamp  # noqa: SLF001 - reportlab reads the document's dates from here and nowhere else
    c.setTitle(title)
    c.setAuthor(author)
    c.setCreator("ReportLab PDF Library - www.reportlab.com")
    c.setSubject("")
    width, height = A4
    y = height - 72
    c.setFont("Helvetica-Bold", 14)
    for k, line in enumerate(lines):
        if y < 72:
            c.showPage()
            y = height - 72
        c.setFont("Helvetica-Bold" if k == 0 else "Helvetica", 14 if k == 0 else 11)
        c.drawString(72, y, line)
        y -= 22 if k == 0 else 15
    c.showPage()
    c.save()
    return buf.getvalue()


CAMERAS = (("Apple", "iPhone 13", "iOS 17.3"), ("samsung", "SM-G991B", "G991BXXU9EWK2"),
           ("Google", "Pixel 7", "HDR+ 1.0.540104767zd"), ("Canon", "Canon EOS 250D", "Firmware Version 1.0.2"))
# How a camera names its photos (the name a photo keeps when copied off the phone or the card) -> the cameras that
# name them so: IMG_20260214_101512 is an Android phone's (Xiaomi's among others), 20260214_101512 a
# Samsung's, PXL_20260214_101512345 a Pixel's; IMG_0815 an iPhone's or a Canon's, DSC_0147 a Nikon's.
NAMED_BY = (
    (re.compile(r"IMG_(\d{8})_(\d{6})"), (("Xiaomi", "Redmi Note 12", ""),)),  # Xiaomi's camera writes no Software
    (re.compile(r"(\d{8})_(\d{6})"), (("samsung", "SM-G991B", "G991BXXU9EWK2"),)),
    (re.compile(r"PXL_(\d{8})_(\d{6})\d{3}"), (("Google", "Pixel 7", "HDR+ 1.0.540104767zd"),)),
    (re.compile(r"IMG_\d{4}"), (CAMERAS[0], CAMERAS[3])),
    (re.compile(r"DSC_\d{4}"), (("NIKON CORPORATION", "NIKON D3500", "Ver.1.20"),)),
)


def camera(name: str, copied: int) -> tuple[tuple[tuple[str, str, str], ...], int]:
    """The cameras that name a photo ``name`` (a file name, its extension aside) and when it was taken: the moment
    its name carries (the camera's clock, read as UTC) when it has one no later than ``copied`` (the file's creation
    where it is now), else ``copied``. A name no camera gives: any camera, taken at ``copied``."""
    stem = name.rsplit(".", 1)[0]
    for pattern, cameras in NAMED_BY:
        if m := pattern.fullmatch(stem):
            if m.groups():
                try:
                    taken = int(datetime.strptime("".join(m.groups()), "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp())
                except ValueError:  # 20261399_...: not a date
                    return cameras, copied
                return cameras, taken if taken <= copied else copied
            return cameras, copied
    return CAMERAS, copied


def jpeg(r: random.Random, taken: int, offset: str = "+00:00", size: tuple[int, int] = (800, 600),
         name: str = "") -> bytes:
    """A photo-like JPEG (sky, ground, shapes) whose EXIF says which camera took it and when (shown in the camera's
    local time with its ``OffsetTimeOriginal``): for a file named ``name``, a camera that names its photos so, at
    the time the name carries (see :func:`camera`); else any camera, at ``taken``."""
    import piexif
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    horizon = r.randint(h // 3, 2 * h // 3)
    top = (r.randint(60, 140), r.randint(120, 190), r.randint(200, 255))
    for y in range(horizon):
        f = y / max(horizon - 1, 1)
        draw.line([(0, y), (w, y)], fill=tuple(int(a + (b - a) * f) for a, b in zip(top, (230, 235, 240),
                                                                                       strict=True)))
    ground = (r.randint(40, 110), r.randint(70, 140), r.randint(30, 80))
    for y in range(horizon, h):
        f = (y - horizon) / max(h - horizon - 1, 1)
        draw.line([(0, y), (w, y)], fill=tuple(int(a * (1 - 0.4 * f)) for a in ground))
    for _ in range(r.randint(5, 12)):
        x, y = r.randrange(w), r.randrange(h)
        rw, rh = r.randint(20, w // 4), r.randint(20, h // 4)
        colour = (r.randrange(256), r.randrange(256), r.randrange(256))
        (draw.ellipse if r.random() < 0.5 else draw.rectangle)([x, y, x + rw, y + rh], fill=colour)
    cameras, taken = camera(name, taken)
    make, model, software = r.choice(cameras)
    local = datetime.fromtimestamp(taken, tz=UTC)
    stamp = local.strftime("%Y:%m:%d %H:%M:%S").encode()
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode(),
                **({piexif.ImageIFD.Software: software.encode()} if software else {}), piexif.ImageIFD.DateTime: stamp,
                piexif.ImageIFD.Orientation: 1, piexif.ImageIFD.XResolution: (72, 1),
                piexif.ImageIFD.YResolution: (72, 1), piexif.ImageIFD.ResolutionUnit: 2},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: stamp, piexif.ExifIFD.DateTimeDigitized: stamp,
                 piexif.ExifIFD.OffsetTime: offset.encode(), piexif.ExifIFD.OffsetTimeOriginal: offset.encode(),
                 piexif.ExifIFD.OffsetTimeDigitized: offset.encode(),
                 piexif.ExifIFD.SubSecTimeOriginal: f"{r.randrange(1000):03d}".encode(),
                 piexif.ExifIFD.ExifVersion: b"0232", piexif.ExifIFD.PixelXDimension: w,
                 piexif.ExifIFD.PixelYDimension: h, piexif.ExifIFD.ExposureTime: (1, r.choice((60, 120, 250, 500))),
                 piexif.ExifIFD.FNumber: (r.choice((16, 18, 22, 28)), 10),
                 piexif.ExifIFD.ISOSpeedRatings: r.choice((50, 100, 200, 400))},
        "GPS": {}, "1st": {}, "thumbnail": None})
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, optimize=False, progressive=False, subsampling=2, exif=exif)
    return buf.getvalue()
