"""The user's documents (dflab/scenario/traces/documents.py) read by independent parsers — python-docx, openpyxl,
pypdf, Pillow, and the command-line tools ``unzip -t``, ``pdfinfo``, ``pdftotext``, ``exiftool``, ``file`` — and
compared with the case: author, times (the file's creation and modification, UTC), text. Each check is shown
finding a planted inconsistency. The JPEG encoder's bytes are pinned by a reference hash: a Pillow whose bundled
libjpeg-turbo writes other bytes fails here instead of changing evidence silently.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import docx
import openpyxl
import pypdf
import pytest
from PIL import Image

from dflab.scenario.case import Case, DiskFile
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from dflab.scenario.traces import documents

SPEC = Path(__file__).resolve().parents[1] / "labs" / "scenarios" / "nightjar.yaml"
SEED = bytes(range(32))
# documents.jpeg(random.Random(7), 1772000000) with Pillow 13.0.0's wheel (libjpeg-turbo): see the module docstring.
JPEG_SHA256 = "216ac35f974de0ce2b64157ee9a47a079483974f9bae449ca6dfbbfa75289672"


@pytest.fixture(scope="module")
def case() -> Case:
    return resolve(load_spec(SPEC), SEED)


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout


def unzip_ok(path: Path) -> bool:
    done = subprocess.run(("unzip", "-t", str(path)), capture_output=True, text=True, timeout=120)
    return done.returncode == 0 and "No errors detected" in done.stdout


def edited(package: bytes, member: str, old: bytes, new: bytes) -> bytes:
    """``package`` with one member's text changed, re-packed with valid CRCs (a plausible forgery, not damage)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data.replace(old, new) if info.filename == member else data)
    return out.getvalue()


def utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC).replace(tzinfo=None)


def author(case: Case, f: DiskFile) -> str:
    user = next(u for u in case.users if u.uid == f.uid)
    return user.full_name or user.name


def docx_problems(data: bytes, f: DiskFile, who: str, tmp: Path) -> list[str]:
    path = tmp / "doc.docx"
    path.write_bytes(data)
    problems = []
    if not unzip_ok(path):
        problems.append("unzip -t finds errors")
    if run("file", "-b", str(path)).strip() != "Microsoft Word 2007+":
        problems.append("file does not see a Word document")
    props = docx.Document(str(path)).core_properties
    aware = (datetime.fromtimestamp(f.crtime, tz=UTC), datetime.fromtimestamp(f.mtime, tz=UTC))
    if (props.author, props.created, props.modified) != (who, *aware):
        problems.append(f"core properties {props.author!r} {props.created} {props.modified}")
    with zipfile.ZipFile(path) as z:
        if any(i.compress_type != zipfile.ZIP_STORED for i in z.infolist()):
            problems.append("a compressed entry (its bytes would depend on the machine's zlib)")
    return problems


def test_docx_by_python_docx(case: Case, tmp_path: Path) -> None:
    f = case.file("contract")
    who = author(case, f)
    assert docx_problems(f.content, f, who, tmp_path) == []
    text = [p.text for p in docx.Document(io.BytesIO(f.content)).paragraphs]
    assert text[:2] == ["Vendor services agreement 2026", "Between the company and its payroll provider."]
    created = datetime.fromtimestamp(f.crtime, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()
    planted = edited(f.content, "docProps/core.xml", created, b"2019-01-01T00:00:00")
    assert any("core properties" in p for p in docx_problems(planted, f, who, tmp_path))


def xlsx_problems(data: bytes, f: DiskFile, who: str, tmp: Path) -> list[str]:
    path = tmp / "book.xlsx"
    path.write_bytes(data)
    problems = []
    if not unzip_ok(path):
        problems.append("unzip -t finds errors")
    if run("file", "-b", str(path)).strip() != "Microsoft Excel 2007+":
        problems.append("file does not see an Excel workbook")
    wb = openpyxl.load_workbook(path)
    p = wb.properties
    if (p.creator, p.lastModifiedBy, p.created, p.modified) != (who, who, utc(f.crtime), utc(f.mtime)):
        problems.append(f"properties {p.creator!r} {p.created} {p.modified}")
    header = [c.value for c in next(wb.active.iter_rows(max_row=1))]
    if header[:3] != ["Cost centre", "Vendor", "Q1"]:
        problems.append(f"header {header}")
    return problems


def test_xlsx_by_openpyxl(case: Case, tmp_path: Path) -> None:
    f = case.file("budget")
    who = author(case, f)
    assert f.mtime > f.crtime
    assert xlsx_problems(f.content, f, who, tmp_path) == []
    rows = list(openpyxl.load_workbook(io.BytesIO(f.content)).active.iter_rows(min_row=2, values_only=True))
    assert len(rows) >= 12 and all(isinstance(v, (int, float)) for r in rows for v in r[2:6])
    modified = datetime.fromtimestamp(f.mtime, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S").encode()
    planted = edited(f.content, "docProps/core.xml", modified, b"2031-01-01T00:00:00")
    assert any("properties" in p for p in xlsx_problems(planted, f, who, tmp_path))


def pdf_problems(data: bytes, f: DiskFile, who: str, tmp: Path) -> list[str]:
    path = tmp / "doc.pdf"
    path.write_bytes(data)
    problems = []
    if not run("file", "-b", str(path)).startswith("PDF document"):
        problems.append("file does not see a PDF")
    info = dict(line.split(":", 1) for line in run("pdfinfo", "-isodates", str(path)).splitlines() if ":" in line)
    stamp = datetime.fromtimestamp(f.crtime, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if info.get("Author", "").strip() != who or not info.get("CreationDate", "").strip().startswith(stamp):
        problems.append(f"pdfinfo says {info.get('Author')!r} {info.get('CreationDate')!r}")
    meta = pypdf.PdfReader(path).metadata
    if meta.creation_date is None or meta.creation_date.astimezone(UTC) != datetime.fromtimestamp(f.crtime, tz=UTC):
        problems.append(f"pypdf reads the creation date {meta.creation_date}")
    title = f.name.rsplit(".", 1)[0].replace("_", " ")
    if title not in run("pdftotext", str(path), "-"):
        problems.append("pdftotext does not find the title")
    return problems


def test_pdf_by_reportlab(case: Case, tmp_path: Path) -> None:
    f = case.file("audit-report")
    who = author(case, f)
    assert pdf_problems(f.content, f, who, tmp_path) == []
    assert b"/FlateDecode" not in f.content  # no compressed stream: nothing depends on the machine's zlib
    planted = f.content.replace(datetime.fromtimestamp(f.crtime, tz=UTC).strftime("%Y%m%d%H%M%S").encode(),
                                b"20190101000000")
    assert any("pdfinfo says" in p for p in pdf_problems(planted, f, who, tmp_path))


def taken_by_name(f: DiskFile) -> str:
    """When the photo's name (an Android phone's IMG_YYYYMMDD_HHMMSS) says it was taken, as EXIF writes times."""
    stamp = re.fullmatch(r"IMG_(\d{8})_(\d{6})\.jpg", f.path.rsplit("/", 1)[-1])
    assert stamp, f"{f.path}: the test reads a photo named as Android phones name them"
    return datetime.strptime("".join(stamp.groups()), "%Y%m%d%H%M%S").strftime("%Y:%m:%d %H:%M:%S")


def jpeg_problems(data: bytes, f: DiskFile, tmp: Path) -> list[str]:
    path = tmp / "photo.jpg"
    path.write_bytes(data)
    problems = []
    if not run("file", "-b", str(path)).startswith("JPEG image data"):
        problems.append("file does not see a JPEG")
    tags = json.loads(run("exiftool", "-json", "-DateTimeOriginal", "-OffsetTimeOriginal", "-Make", "-Model",
                          str(path)))[0]
    taken = taken_by_name(f)  # taken on the phone, copied to the computer later
    if datetime.strptime(taken, "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC).timestamp() > f.crtime:
        problems.append("taken after it was copied")
    if tags.get("DateTimeOriginal") != taken or tags.get("OffsetTimeOriginal") != "+00:00":
        problems.append(f"exiftool says taken {tags.get('DateTimeOriginal')} {tags.get('OffsetTimeOriginal')}")
    if tags.get("Make") in (None, "", "Apple", "Canon") or not tags.get("Model"):
        problems.append(f"camera {tags.get('Make')} {tags.get('Model')}: not one that names photos so")
    exif = Image.open(path).getexif().get_ifd(0x8769)
    if exif.get(0x9003) != taken:  # DateTimeOriginal, read by Pillow
        problems.append(f"Pillow reads DateTimeOriginal {exif.get(0x9003)}")
    return problems


def test_jpeg_exif_by_exiftool_and_pillow(case: Case, tmp_path: Path) -> None:
    f = case.file("photo")
    assert jpeg_problems(f.content, f, tmp_path) == []
    planted = f.content.replace(taken_by_name(f).encode(), b"2019:01:01 00:00:00")
    assert any("exiftool says" in p for p in jpeg_problems(planted, f, tmp_path))
    iphone = documents.jpeg(random.Random(1), int(f.crtime), name="IMG_0815.jpg")  # what the old photo said
    assert any(p.startswith("camera ") or "exiftool says" in p for p in jpeg_problems(iphone, f, tmp_path))


def test_jpeg_encoder_bytes_are_pinned() -> None:
    data = documents.jpeg(random.Random(7), 1772000000)
    assert hashlib.sha256(data).hexdigest() == JPEG_SHA256


def test_documents_are_byte_identical_twice(case: Case) -> None:
    again = resolve(load_spec(SPEC), SEED)
    for ident in ("contract", "budget", "audit-report", "photo"):
        assert again.file(ident).content == case.file(ident).content, ident
