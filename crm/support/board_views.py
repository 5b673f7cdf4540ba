"""The support board's wall chart (挂图作战) as a page and as an .xlsx with the same colours. Staff only: a department
liaison sees the requests and milestones of their department on the support pages, never the board."""
import io
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_required
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from crm.audit import services as audit
from crm.core.database import writing
from crm.core.spreadsheet import defuse
from crm.core.text import mask_digit_runs
from crm.extensions import db
from crm.projects import stages
from crm.reference import services as reference
from crm.web import RowUrls, signed_in_user, staff_only

from . import board as wall
from .models import MILESTONE_KINDS

#: no url_prefix: a prefix would make the export /board/.xlsx (Flask joins prefix and rule with a slash)
bp = Blueprint("board", __name__)
bp.before_request(login_required(staff_only))

#: the fill of each status, on the page (static/css/support-board.css) and in the workbook alike: red overdue, yellow
#: due soon, green on track, done a quiet blue-grey (finished work should not compete with what needs attention)
FILLS = {"red": "F4A6A6", "yellow": "FBE38E", "green": "B9E4C9", "done": "D5DEEA"}
TEXT_COLOURS = {"red": "5B0F0F", "yellow": "4D3B00", "green": "0E3B22", "done": "2F3D52"}
#: rows that print on one A3 landscape page: two lines a row up to PRINT_ROWS, one line a row (done cells show
#: their actual date, the others their planned date) up to PRINT_ROWS_DENSE; past that the page warns that the
#: printout takes more than one page (measured with tests/board/test_browser.py)
PRINT_ROWS, PRINT_ROWS_DENSE = 45, 100


def status_words() -> dict[str, str]:
    """The words that go with each colour (never colour alone), translated once per request."""
    return {"red": _("Overdue"), "yellow": _("Due soon"), "green": _("On track"), "done": _("Done")}


class Words:
    """The board's fixed words and names, looked up once per request (a page of 500 rows × 9 cells would
    otherwise translate the same few words thousands of times)."""

    def __init__(self, board: wall.Board):
        self.status = status_words()
        self.kinds = {k.key: str(k.label) for k in MILESTONE_KINDS}
        self.stages = {s.key: str(s.label) for s in stages.STAGES}
        self.parks = reference.names("park")
        self.departments = reference.names("department")
        self.planned, self.actual = _("Planned"), _("Actual")
        self.no_milestone = _("No milestone")
        self.warning = _("due within %(n)s days", n=board.warning_days)
        self._requests: dict[int, str] = {}

    def requests(self, n: int) -> str:
        """The phone layout's "3 open requests", translated once per distinct number on the page."""
        if n not in self._requests:
            self._requests[n] = ngettext("%(num)d open request", "%(num)d open requests", n)
        return self._requests[n]


def _filters() -> wall.BoardFilters:
    return wall.BoardFilters.from_args(request.args)


@bp.get("/board")
def index():
    """The wall chart: the filters, the legend, one row per project, one coloured cell per milestone."""
    me = signed_in_user()
    f = _filters()
    board = wall.board(me, f)
    words = Words(board)
    urls = RowUrls(project=("projects.show", "project_id"))
    return render_template(
        "board/index.html", board=board, filters=f, words=words, urls=urls,
        clusters=reference.choices("cluster"), parks=reference.choices("park"), officers=wall.officers(me),
        sorts=[("worst", _("Worst status first")), ("name", _("Project name")),
               ("production", _("Planned production start"))],
        export_query=urlencode(f.args(page=1)), counts=board.counts(), print_layout=print_layout(len(board.rows)),
        print_rows=PRINT_ROWS_DENSE)


def print_layout(rows: int) -> str:
    """The print layout that fits `rows` on one A3 landscape page ("over": it cannot, at a readable size)."""
    return "normal" if rows <= PRINT_ROWS else "dense" if rows <= PRINT_ROWS_DENSE else "over"


# --- the workbook ----------------------------------------------------------------------------------------------------

def _cell_text(cell: wall.Cell | None, words: Words) -> str:
    if cell is None:
        return "—"
    planned = cell.planned_date.isoformat() if cell.planned_date else "—"
    lines = [words.status[cell.status], f"{words.planned} {planned}"]
    if cell.actual_date:
        lines.append(f"{words.actual} {cell.actual_date.isoformat()}")
    return "\n".join(lines)


def workbook(board: wall.Board, words: Words) -> tuple[bytes, int]:
    """The board as .xlsx: a header row, one row per project, each milestone cell filled with its status's colour
    and holding its words and dates (so a black-and-white printout still reads), the header and the project columns
    frozen; every text defused (a project named "=HYPERLINK(...)" stays text)."""
    wb = Workbook()
    ws = wb.active
    ws.title = _("Support board")[:31]
    header = [_("Project"), _("Company"), _("Stage"), _("Officer"), _("Park"), _("Open requests"),
              _("Worst status")] + [words.kinds[k.key] for k in MILESTONE_KINDS]
    ws.append([defuse(h) for h in header])
    bold, thin = Font(bold=True), Side(style="thin", color="9AA5B1")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(wrap_text=True, vertical="top")
    fills = {status: PatternFill("solid", fgColor=colour) for status, colour in FILLS.items()}
    fonts = {status: Font(color=colour) for status, colour in TEXT_COLOURS.items()}
    for cell in ws[1]:
        cell.font, cell.alignment, cell.border = bold, Alignment(wrap_text=True, vertical="center"), border
    first_milestone = len(header) - len(MILESTONE_KINDS) + 1
    for row in board.rows:
        worst = row.worst_status
        values = [row.name, row.company, words.stages.get(row.stage, row.stage), row.owner_name,
                  words.parks.get(row.park, row.park or ""), row.open_requests,
                  words.status[worst] if worst else "—"]
        values += [_cell_text(row.cells.get(k.key), words) for k in MILESTONE_KINDS]
        ws.append([defuse(v) for v in values])
        line = ws.max_row
        ws.row_dimensions[line].height = 45  # three lines of text: Excel does not grow rows that openpyxl wrote
        for column in range(1, len(values) + 1):
            ws.cell(line, column).alignment, ws.cell(line, column).border = wrap, border
        if worst:
            ws.cell(line, first_milestone - 1).fill = fills[worst]
            ws.cell(line, first_milestone - 1).font = fonts[worst]
        for i, kind in enumerate(MILESTONE_KINDS):
            found = row.cells.get(kind.key)
            if found is not None:
                ws.cell(line, first_milestone + i).fill = fills[found.status]
                ws.cell(line, first_milestone + i).font = fonts[found.status]
    widths = [34, 26, 12, 10, 12, 8, 10] + [15] * len(MILESTONE_KINDS)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "C2"  # the header row and the project and company columns stay in view
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(ws.max_row, 1)}"
    ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", ws.PAPERSIZE_A3
    ws.page_setup.fitToWidth, ws.sheet_properties.pageSetUpPr.fitToPage = 1, True
    ws.page_setup.fitToHeight = 0

    legend = wb.create_sheet(_("Legend")[:31])
    legend.append([defuse(_("As of %(day)s (the zone's date); yellow: %(window)s", day=board.on.isoformat(),
                             window=words.warning))])
    for status in ("red", "yellow", "green", "done"):
        legend.append([defuse(words.status[status])])
        legend.cell(legend.max_row, 1).fill = fills[status]
        legend.cell(legend.max_row, 1).font = fonts[status]
    legend.column_dimensions["A"].width = 48
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), len(board.rows)


@bp.get("/board.xlsx")
def export():
    """The board as filtered, every matching row (up to EXPORT_CAP), as .xlsx with the page's colours."""
    me = signed_in_user()
    f = _filters()
    f.page = 1
    board = wall.board(me, f, per_page=wall.EXPORT_CAP)
    body, count = workbook(board, Words(board))
    # the audit row in a writer's transaction of its own: the read above began a plain one, and on SQLite a plain
    # transaction that turns writer fails at once ("database is locked") when another export is writing
    db.session.rollback()
    with writing():
        audit.record("export", actor=me, object_type="project", changes={"rows": [None, count]},
                     label=("board " + mask_digit_runs(request.query_string.decode(errors="replace")))[:200])
        db.session.commit()
    response = Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="support-board-{board.on.isoformat()}.xlsx"'
    return response
