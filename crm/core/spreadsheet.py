"""Excel export that is safe to open: text that looks like a formula is defused (IE-4), identifiers stay text."""
import io

from flask import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

#: a cell starting with one of these would be run as a formula by Excel, WPS or LibreOffice
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def defuse(value):
    """Prefix text that a spreadsheet would evaluate with an apostrophe; numbers pass untouched."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def xlsx_response(filename: str, header: list[str], rows, *, text_columns: set[int] = frozenset()):
    """Stream rows into a write-only workbook and return (response, row count)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append(header)
    count = 0
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            cell = WriteOnlyCell(ws, value=defuse(value) if value is not None else None)
            if i in text_columns:
                cell.number_format = "@"
            cells.append(cell)
        ws.append(cells)
        count += 1
    buf = io.BytesIO()
    wb.save(buf)
    response = Response(buf.getvalue(),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response, count
