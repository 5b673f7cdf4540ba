"""Read an uploaded .xlsx or .csv as a stream of rows, refusing what is not a plain spreadsheet with a clear message.

.xlsx is read with python-calamine (Rust, about 15× openpyxl), which returns the cached values of the sheet. Before
that the workbook is checked as a zip without unpacking it (IE-5): the magic bytes, the entries' sizes and count (a
zip bomb), macros, XML entity declarations (billion laughs, external entities), and one streamed pass over the sheet's
XML finds formulas and merged cells. A sheet with formulas is read with openpyxl in read-only mode instead (calamine
gives only their results, and the importer must tell a formula from text: IE-4). python-calamine holds a whole sheet's
cells (about 90 bytes each) while the rows stream to Python, so a sheet is given to it a piece at a time (`_Pieces`):
memory stays flat at any number of rows, at about 1.3× calamine's time on the whole sheet.

.csv is read in UTF-8 (with or without a BOM), UTF-16 with a BOM, or GB18030 (what Chinese Excel writes), found by
decoding the file once; rows stream through the csv module.
"""
import codecs
import csv
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from posixpath import join, normpath

from defusedxml import ElementTree
from flask_babel import lazy_gettext as _l

from .columns import FORMULA, header_score

#: the default limits (the app's config may set CRM_IMPORT_MAX_BYTES and CRM_IMPORT_MAX_ROWS)
MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
#: a workbook whose parts unpack to more than this, or more than RATIO times their packed size, is refused
MAX_UNPACKED = 600 * 1024 * 1024
MAX_RATIO = 150
MAX_ENTRIES = 2_000
MAX_SHEETS = 50
#: rows looked at for the header (a title row or two above it is common)
HEADER_SCAN = 10

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s+ref=\"([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]+\d+(?::([A-Z]+)(\d+))?\"")
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_SHEET_DATA = re.compile(rb"<(\w+:)?sheetData\b[^>]*?(/?)>")
_DIMENSION_EL = re.compile(rb"<(?:\w+:)?dimension\b[^>]*/>")
_ROW_OPEN = re.compile(rb"<(?:\w+:)?row\b[^>]*>")
#: the sheet's XML is read by calamine in pieces of about this size (see _Pieces)
PIECE_BYTES = 2 * 1024 * 1024


class ReadError(ValueError):
    """The file cannot be imported at all; `message` says why and what to do."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


@dataclass
class Table:
    """A sheet ready to read: its header (found under any title rows) and a stream of the rows below it."""

    sheet: str
    header_row: int
    header: list[str]
    #: the rows below the header, as far as the file says (the dimension of a sheet; None for a CSV)
    rows_estimate: int | None
    #: (row number as Excel shows it, cells) for each non-empty row under the header
    rows: Iterator[tuple[int, list]]
    engine: str = "calamine"
    notes: list[str] = field(default_factory=list)


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def sniff(head: bytes, filename: str) -> str:
    """xlsx, csv, or a ReadError: by the first bytes, not by the name (IE-5)."""
    name = filename.lower()
    if name.endswith((".xlsm", ".xltm", ".xlam")):
        raise ReadError(_l("Macro-enabled workbooks are not accepted: save the sheet as .xlsx."))
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ReadError(_l("This is a password-protected workbook or an old .xls file: open it in Excel, remove "
                           "the password and save it as .xlsx."))
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if name.endswith((".xlsx", ".xls")):
        raise ReadError(_l("This file is not an Excel workbook, although its name says so: open it in Excel and "
                           "save it as .xlsx."))
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ReadError(_l("This is not a spreadsheet: upload an .xlsx or .csv file."))
    if name.endswith((".csv", ".txt")):
        return "csv"
    raise ReadError(_l("This is not a spreadsheet: upload an .xlsx or .csv file."))


@contextmanager
def open_table(path: str, filename: str, *, kind: str, max_rows: int = MAX_ROWS,
               sheet_name: str | None = None) -> Iterator[Table]:
    """Open the stored upload and yield its Table (closed afterwards). Raises ReadError."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    fmt = sniff(head, filename)
    if fmt == "xlsx":
        with _open_xlsx(path, kind=kind, max_rows=max_rows, sheet_name=sheet_name) as table:
            yield table
    else:
        with _open_csv(path, kind=kind, max_rows=max_rows) as table:
            yield table


# --- .xlsx -----------------------------------------------------------------------------------------------------------

@dataclass
class _SheetInfo:
    name: str
    part: str
    formulas: bool = False
    merges: list = field(default_factory=list)
    last_row: int = 0
    last_col: int = 0


def _check_zip(zf: zipfile.ZipFile, packed: int) -> None:
    infos = zf.infolist()
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise ReadError(_l("This file is not an Excel workbook: open it in Excel and save it as .xlsx."))
    if len(infos) > MAX_ENTRIES:
        raise ReadError(_l("This workbook has too many parts to be a plain list: save the sheet alone as .xlsx."))
    unpacked = sum(i.file_size for i in infos)
    if unpacked > MAX_UNPACKED or unpacked > MAX_RATIO * max(packed, 1):
        raise ReadError(_l("This workbook unpacks to far more data than a list holds and is refused."))
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise ReadError(_l("Macro-enabled workbooks are not accepted: save the sheet as .xlsx."))
    if b"macroEnabled" in zf.read("[Content_Types].xml"):
        raise ReadError(_l("Macro-enabled workbooks are not accepted: save the sheet as .xlsx."))
    for info in infos:
        if info.filename.endswith((".xml", ".rels")):
            with zf.open(info) as part:
                start = part.read(2048)
            if b"<!DOCTYPE" in start or b"<!ENTITY" in start:
                raise ReadError(_l("This workbook contains XML entity declarations and is refused."))


def _sheets(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(name, part path) of each visible worksheet, in workbook order."""
    try:
        book = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError) as exc:
        raise ReadError(_l("This workbook is damaged: open it in Excel and save it again.")) from exc
    except Exception as exc:  # defusedxml's refusals (entities, DTDs)
        raise ReadError(_l("This workbook contains XML entity declarations and is refused.")) from exc
    targets = {r.get("Id"): r.get("Target") for r in rels.iter(f"{_NS_PKG_REL}Relationship")}
    out = []
    for sheet in book.iter(f"{_NS_MAIN}sheet"):
        if sheet.get("state") in ("hidden", "veryHidden"):
            continue
        target = targets.get(sheet.get(f"{_NS_REL}id"))
        if not target:
            continue
        part = target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
        if part.startswith("xl/worksheets/"):
            out.append((sheet.get("name") or "", part))
    if len(out) > MAX_SHEETS:
        raise ReadError(_l("This workbook has too many sheets: save the list alone as .xlsx."))
    return out


def _scan_sheet(zf: zipfile.ZipFile, info: _SheetInfo) -> None:
    """One streamed pass over the sheet's XML: formulas, merged ranges, the dimension (never the whole text). Plain
    substring tests first (memchr speed), the regular expressions only where they hit."""
    tail, first = b"", True
    with zf.open(info.part) as part:
        while chunk := part.read(1 << 20):
            window = tail + chunk
            if first:
                dim = _DIMENSION.search(window)
                if dim and dim.group(2):
                    info.last_col, info.last_row = _column_number(dim.group(1)), int(dim.group(2))
                first = False
            if not info.formulas and any(t in window for t in (b"<f>", b"<f ", b":f>", b":f ")) \
                    and _FORMULA.search(window):
                info.formulas = True
            if b"mergeCell " in window:
                for m in _MERGE.finditer(window):
                    first_row = int(m.group(2))
                    last_row = int(m.group(4) or m.group(2))
                    ref = m.group(0).split(b'"')[1].decode()
                    if (ref, first_row, last_row) not in info.merges:
                        info.merges.append((ref, first_row, last_row))
            tail = window[-200:]


def _header(rows: list[tuple[int, list]], kind: str) -> tuple[int, list]:
    """The header: of the first rows, the one naming most columns of the kind (else the first non-empty row)."""
    best, best_score = rows[0], 0
    for number, cells in rows:
        score = header_score(kind, cells)
        if score > best_score:
            best, best_score = (number, cells), score
    return best


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _numbered(rows, max_rows: int, first: int = 1) -> Iterator[tuple[int, list]]:
    """Non-empty rows with their Excel row numbers, stopping with a ReadError past the row limit."""
    return _limited(enumerate(rows, start=first), max_rows)


def _limited(pairs, max_rows: int) -> Iterator[tuple[int, list]]:
    """The non-empty ones of (row number, cells), stopping with a ReadError past the row limit."""
    count = 0
    for number, cells in pairs:
        if not any(c not in (None, "") for c in cells):
            continue
        count += 1
        if count > max_rows + HEADER_SCAN:
            raise ReadError(_l("This file has more than %(n)s rows: split it into smaller files.", n=f"{max_rows:,}"))
        yield number, cells


def _calamine_open(path: str, name: str):
    import python_calamine

    try:
        book = python_calamine.CalamineWorkbook.from_path(path)
        sheet = book.get_sheet_by_name(name)
    except python_calamine.PasswordError as exc:
        raise ReadError(_l("This workbook is password-protected: remove the password and save it again.")) from exc
    except (python_calamine.CalamineError, python_calamine.ZipError, python_calamine.XmlError) as exc:
        raise ReadError(_l("This workbook is damaged: open it in Excel and save it again.")) from exc
    return book, sheet


def _calamine_rows(path: str, name: str, max_rows: int):
    """The whole sheet through python-calamine at once (its cells held in memory while the rows stream out)."""
    book, sheet = _calamine_open(path, name)
    start = sheet.start[0] + 1 if sheet.start else 1
    return book, _numbered(sheet.iter_rows(), max_rows, first=start)


class _Pieces:
    """The sheet read by python-calamine a piece at a time, so that memory stays flat at any number of rows.

    python-calamine holds a sheet's cells (about 90 bytes each) while its rows stream out, and has no lazy reader.
    So the sheet's XML is cut, as it unpacks, after a `</row>` every PIECE_BYTES, and each piece is read by calamine
    as a workbook of its own: a copy of this workbook's small parts (workbook, styles, shared strings; made once)
    with the piece as the sheet, between the sheet's own head (its namespaces) and `</sheetData></worksheet>`. Each
    row keeps its number (its `r` attribute), and calamine's range is put back in place from its first row and
    column. Rows without an `r` (a few writers omit it) would be renumbered in each piece: such a sheet is read whole.
    """

    def __init__(self, zf: zipfile.ZipFile, path: str, name: str, part: str, max_rows: int):
        self.zf, self.path, self.name, self.part, self.max_rows = zf, path, name, part, max_rows
        self.dir = tempfile.TemporaryDirectory(prefix="crm-xlsx-")
        shared = [i for i in zf.infolist() if i.filename.lower().endswith("sharedstrings.xml")]
        # a piece is at least twice the shared strings (which every piece's reading parses again)
        self.piece_bytes = max(PIECE_BYTES, 2 * sum(i.file_size for i in shared))
        self.shell = os.path.join(self.dir.name, "shell.xlsx")
        with zipfile.ZipFile(self.shell, "w", zipfile.ZIP_STORED) as out:
            for info in zf.infolist():
                lower = info.filename.lower()
                if info.filename == self.part:
                    continue
                if lower.startswith("xl/worksheets/") and lower.endswith(".xml"):
                    out.writestr(info.filename, _STUB_SHEET)  # the other sheets, empty
                elif lower.endswith((".xml", ".rels")) and not lower.startswith(("xl/worksheets/", "xl/drawings/",
                                                                                  "xl/charts/", "xl/media/")):
                    with zf.open(info) as src, out.open(info.filename, "w") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        self.books = []

    def close(self) -> None:
        for book in self.books:
            book.close()
        self.books = []
        self.dir.cleanup()

    def _bodies(self) -> Iterator[tuple[bytes, bytes, bytes]]:
        """(head, rows, foot) for each piece of the sheet's XML."""
        head, close_row, foot, end_data = None, b"", b"", b""
        parts: list[bytes] = []  # the piece so far, in chunks (joined once)
        size = 0
        with self.zf.open(self.part) as src:
            while True:
                chunk = src.read(1 << 20)
                if head is None:
                    buf = (parts.pop() if parts else b"") + chunk
                    m = _SHEET_DATA.search(buf)
                    if not m:
                        if not chunk:
                            return
                        parts.append(buf)
                        continue
                    if m.group(2):  # <sheetData/>: no rows
                        return
                    prefix = m.group(1) or b""
                    head = _DIMENSION_EL.sub(b"", buf[:m.end()])
                    close_row = b"</" + prefix + b"row>"
                    foot = b"</" + prefix + b"sheetData></" + prefix + b"worksheet>"
                    end_data = b"</" + prefix + b"sheetData"
                    chunk = buf[m.end():]
                # the end of the rows, looked for in this chunk and across its border with the previous one
                joint = (parts[-1][-len(end_data):] if parts else b"") + chunk
                stop = joint.find(end_data)
                if stop >= 0:
                    data = b"".join(parts)
                    data = data[:len(data) - (len(joint) - len(chunk))] + joint[:stop]
                    if data.strip():
                        yield head, data, foot
                    return
                if not chunk:
                    raise ReadError(_l("This workbook is damaged: open it in Excel and save it again."))
                parts.append(chunk)
                size += len(chunk)
                if size >= self.piece_bytes:
                    data = b"".join(parts)
                    cut = data.rfind(close_row)
                    if cut >= 0:
                        cut += len(close_row)
                        body, rest = data[:cut], data[cut:]
                        del data
                        parts, size = [rest], len(rest)
                        del rest
                        yield head, body, foot
                        del body
                    else:
                        parts = [data]

    def rows(self) -> Iterator[tuple[int, list]]:
        n = 0
        for head, body, foot in self._bodies():
            first_row = _ROW_OPEN.search(body)
            if n == 0 and first_row and b" r=" not in first_row.group(0) and b"\tr=" not in first_row.group(0):
                raise _NoRowNumbers
            n += 1
            piece = os.path.join(self.dir.name, f"piece{n % 2}.xlsx")
            shutil.copyfile(self.shell, piece)
            with zipfile.ZipFile(piece, "a", zipfile.ZIP_STORED) as out, out.open(self.part, "w") as dst:
                dst.write(head)
                dst.write(body)
                dst.write(foot)
            del body
            book, sheet = _calamine_open(piece, self.name)
            try:
                # the piece's rows at once (a piece is bounded): iter_rows would start at the sheet's first row
                # whatever the range's (python-calamine#177), and come through every row above the piece empty
                start = sheet.start
                rows = sheet.to_python(skip_empty_area=True) if start else []
            finally:
                book.close()
            if not start:
                continue
            top, left = start
            if left:  # calamine drops the empty columns on the left: put the cells back in place
                pad = [""] * left
                rows = [pad + cells for cells in rows]
            yield from zip(count(top + 1), rows)
            del rows


class _NoRowNumbers(Exception):
    """The sheet's rows carry no numbers: it cannot be read in pieces."""


_STUB_SHEET = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
               b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>')


def _piece_rows(zf: zipfile.ZipFile, path: str, name: str, part: str, max_rows: int):
    """The sheet in pieces (flat memory) when its rows are numbered, else whole."""
    pieces = _Pieces(zf, path, name, part, max_rows)
    rows = pieces.rows()
    try:
        first = next(rows, None)
    except _NoRowNumbers:
        pieces.close()
        return _calamine_rows(path, name, max_rows)
    except BaseException:
        pieces.close()
        raise

    def stream():
        if first is not None:
            yield first
            yield from rows

    return pieces, _limited(stream(), max_rows)


def _openpyxl_rows(path: str, name: str, max_rows: int):
    """Read-only openpyxl: constant memory; a formula cell comes as (FORMULA, its text)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=False)
        sheet = book[name]
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ReadError(_l("This workbook is damaged: open it in Excel and save it again.")) from exc

    def cells():
        for row in sheet.iter_rows():
            out = []
            for cell in row:
                value = getattr(cell, "value", None)
                if getattr(cell, "data_type", None) == "f" and isinstance(value, str):
                    value = (FORMULA, value)
                out.append(value)
            yield out

    return book, _numbered(cells(), max_rows)


@contextmanager
def _open_xlsx(path: str, *, kind: str, max_rows: int, sheet_name: str | None):
    import os

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(_l("This workbook is damaged: open it in Excel and save it again.")) from exc
    with zf:
        _check_zip(zf, os.path.getsize(path))
        sheets = [s for s in _sheets(zf) if sheet_name in (None, s[0])]
        if not sheets:
            raise ReadError(_l("This workbook has no visible worksheet."))
        for name, part in sheets:
            info = _SheetInfo(name, part)
            try:
                _scan_sheet(zf, info)
            except (KeyError, zipfile.BadZipFile, OSError) as exc:
                raise ReadError(_l("This workbook is damaged: open it in Excel and save it again.")) from exc
            if info.last_row > max_rows + HEADER_SCAN:  # refused before any reading, from the sheet's dimension
                raise ReadError(_l("This file has more than %(n)s rows: split it into smaller files.",
                                   n=f"{max_rows:,}"))
            # python-calamine, a piece of the sheet at a time (flat memory); a sheet with formulas through openpyxl
            engine = "openpyxl" if info.formulas else "calamine"
            if engine == "openpyxl":
                book, rows = _openpyxl_rows(path, name, max_rows)
            else:
                book, rows = _piece_rows(zf, path, name, part, max_rows)
            try:
                first = []
                for item in rows:
                    first.append(item)
                    if len(first) >= HEADER_SCAN:
                        break
                if not first:
                    continue  # an empty sheet: try the next one
                header_row, header = _header(first, kind)
                merged = [ref for ref, top, bottom in info.merges if top <= header_row <= bottom]
                if merged:
                    raise ReadError(_l("The header row has merged cells (%(refs)s): unmerge them so that each "
                                       "column has its own header.", refs=", ".join(merged[:5])))
                below = [item for item in first if item[0] > header_row]

                def stream(below=below, rows=rows):
                    yield from below
                    yield from rows

                estimate = max(info.last_row - header_row, 0) if info.last_row else None
                notes = [str(_l("Formulas found: the sheet was read with their text."))] if info.formulas else []
                yield Table(sheet=name, header_row=header_row, header=[_text(c) for c in header],
                            rows_estimate=estimate, rows=stream(), engine=engine, notes=notes)
                return
            finally:
                book.close()
        raise ReadError(_l("The workbook's sheets are empty."))


# --- .csv ------------------------------------------------------------------------------------------------------------

def detect_encoding(path: str) -> str:
    """utf-8-sig, utf-16 (with a BOM) or gb18030: UTF-8 when the whole file decodes as UTF-8, else GB18030 (which
    every byte string Chinese Excel writes decodes as). Streams the file once."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


@contextmanager
def _open_csv(path: str, *, kind: str, max_rows: int):
    encoding = detect_encoding(path)
    try:
        fh = open(path, encoding=encoding, newline="")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise ReadError(_l("The file cannot be read.")) from exc
    try:
        sample = fh.read(8192)
        fh.seek(0)
        first_line = sample.splitlines()[0] if sample.splitlines() else ""
        delimiter = max((",", "\t", ";"), key=first_line.count) if first_line else ","
        reader = csv.reader(fh, delimiter=delimiter)

        def rows():
            try:
                yield from reader
            except (csv.Error, UnicodeDecodeError) as exc:
                raise ReadError(_l("This file is not a readable CSV: save it again as CSV (UTF-8).")) from exc

        numbered = _numbered(([c.strip() for c in r] for r in rows()), max_rows)
        first = []
        for item in numbered:
            first.append(item)
            if len(first) >= HEADER_SCAN:
                break
        if not first:
            raise ReadError(_l("The file is empty."))
        header_row, header = _header(first, kind)
        below = [item for item in first if item[0] > header_row]

        def stream():
            yield from below
            yield from numbered

        yield Table(sheet="", header_row=header_row, header=[_text(c) for c in header], rows_estimate=None,
                    rows=stream(), engine=f"csv/{encoding}")
    finally:
        fh.close()


def count_rows(path: str) -> int | None:
    """A quick upper bound of a CSV's rows (its line count), for the progress bar; None when unknown."""
    try:
        with open(path, "rb") as fh:
            return sum(buf.count(b"\n") for buf in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return None
