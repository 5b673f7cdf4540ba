"""The reports' workbook layout: a titled table per sheet, the header frozen and repeated on every printed page,
sensible widths, A4 landscape fitted to the page's width, every text cell defused (IE-4)."""
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from crm.core.spreadsheet import defuse

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: amounts in 万元 and land in 亩: thousands separated, two decimals (the bureau's tables keep them)
AMOUNT_FORMAT = "#,##0.00"
#: the table's header row (a title and a subtitle above it)
HEADER_ROW = 3

_THIN = Side(style="thin", color="9AA5B1")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="E8EDF3")
_WRAP = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class Column:
    header: str
    #: in characters (Excel's unit); a CJK character takes about two
    width: float
    #: "text", "amount" (万元 or 亩, a Decimal: two decimals), "number" (a count or an amount as it is), "int" or
    #: "date"; a value of another type shows as text
    kind: str = "text"


def cell_value(value, kind: str = "text"):
    """What a cell holds: numbers as numbers (a negative amount stays a number), dates as dates, text stripped of the
    characters a workbook cannot hold and defused so that a spreadsheet never runs it as a formula."""
    if value is None or value == "":
        return None
    if kind == "amount" and isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "number" and isinstance(value, (Decimal, int, float)) and not isinstance(value, bool):
        return value if isinstance(value, int) else float(value)
    if kind == "int" and isinstance(value, int):
        return value
    if kind == "date" and isinstance(value, date):
        return value
    return defuse(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def table_sheet(wb: Workbook, name: str, *, title: str, subtitle: str, columns: Sequence[Column],
                rows: Iterable[Sequence], empty: str = "") -> Worksheet:
    """A sheet holding one table: the title (row 1) and subtitle (row 2) across the table, the header (row 3,
    frozen, repeated on each printed page, filterable), then the rows; `empty` shows in the first row when there
    are none. Printed A4 landscape, as wide as the page, as many pages long as it takes."""
    ws = wb.create_sheet(cell_value(name)[:31])
    last = get_column_letter(len(columns))
    ws.append([cell_value(title)])
    ws.append([cell_value(subtitle)])
    ws.append([cell_value(c.header) for c in columns])
    for line in (1, 2):
        ws.merge_cells(f"A{line}:{last}{line}")
    ws["A1"].font, ws["A1"].alignment = Font(bold=True, size=14), Alignment(horizontal="center", vertical="center")
    ws["A2"].font, ws["A2"].alignment = Font(size=10, color="4B5563"), Alignment(horizontal="left", wrap_text=True)
    ws.row_dimensions[1].height = 26
    ws.row_dimensions[2].height = 30
    for cell in ws[HEADER_ROW]:
        cell.font, cell.fill, cell.border = Font(bold=True), _HEADER_FILL, _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[HEADER_ROW].height = 30
    count = 0
    for row in rows:
        ws.append([cell_value(value, column.kind) for value, column in zip(row, columns, strict=True)])
        count += 1
        line = ws.max_row
        for column, cell in zip(columns, ws[line], strict=True):
            cell.border, cell.alignment = _BORDER, _WRAP
            if column.kind == "amount":
                cell.number_format = AMOUNT_FORMAT
            elif column.kind == "date":
                cell.number_format = "yyyy-mm-dd"
    if not count and empty:
        ws.append([cell_value(empty)])
        ws.merge_cells(f"A{ws.max_row}:{last}{ws.max_row}")
        ws.cell(ws.max_row, 1).alignment = Alignment(horizontal="center")
    for i, column in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = column.width
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    if count:
        ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{ws.max_row}"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.oddFooter.center.text = "&P / &N"
    return ws


def new_workbook() -> Workbook:
    """An empty workbook (its default sheet removed: every sheet is a table_sheet)."""
    wb = Workbook()
    wb.remove(wb.active)
    return wb


def to_bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
