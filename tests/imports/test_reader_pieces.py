"""The .xlsx reader reads a sheet a piece at a time (python-calamine holds a whole sheet's cells otherwise, so memory
followed the file): the rows come out as python-calamine gives them for the whole sheet, whatever the cuts fall on:
shared strings, dates, empty cells and rows, a first column left empty, rows numbered as Excel shows them."""
import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from crm.imports import readers


def _book(path, rows: int, *, first_column_empty: bool = False):
    wb = Workbook()
    ws = wb.active
    ws.title = "名单"
    ws.append([None, "企业名称", "成立日期", "员工人数", "备注"] if first_column_empty else
              ["企业名称", "成立日期", "员工人数", "备注"])
    expected = []
    for i in range(rows):
        if i % 97 == 13:
            ws.append([])  # an empty row: skipped, the numbering goes on
            continue
        cells = [f"吉安华宇{i % 50}电子有限公司", date(2020, 1, 1 + i % 28), i, "推介会" if i % 3 else None]
        ws.append([None, *cells] if first_column_empty else cells)
        expected.append((ws.max_row, cells))
    for row in ws.iter_rows(min_row=2, min_col=3 if first_column_empty else 2,
                            max_col=3 if first_column_empty else 2):
        row[0].number_format = "yyyy-mm-dd"
    wb.save(path)
    return expected


def _normal(cells: list) -> list:
    out = [None if c == "" else c for c in cells]
    out = [c.date() if isinstance(c, datetime) else c for c in out]
    out = [int(c) if isinstance(c, float) and c.is_integer() else c for c in out]
    while out and out[-1] is None:
        out.pop()
    return out


@pytest.mark.parametrize("first_column_empty", [False, True])
def test_a_sheet_read_in_pieces_gives_the_rows_of_the_whole_sheet(tmp_path, monkeypatch, first_column_empty):
    path = tmp_path / "list.xlsx"
    expected = _book(path, 3000, first_column_empty=first_column_empty)
    monkeypatch.setattr(readers, "PIECE_BYTES", 16 * 1024)  # many pieces: cuts fall everywhere
    with readers.open_table(str(path), "list.xlsx", kind="companies") as table:
        assert table.engine == "calamine" and table.header_row == 1
        assert [h for h in table.header if h][:2] == ["企业名称", "成立日期"]
        got = list(table.rows)
    skip = 1 if first_column_empty else 0
    assert [(n, _normal(c)[skip:]) for n, c in got] == [(n, _normal(c)) for n, c in expected]
    if first_column_empty:
        assert all(c[0] in (None, "") for _n, c in got)  # cells stay in their columns


def test_pieces_match_python_calamine_on_the_whole_sheet(tmp_path, monkeypatch):
    path = tmp_path / "list.xlsx"
    _book(path, 2000)
    with readers.open_table(str(path), "list.xlsx", kind="companies") as table:
        whole = list(table.rows)  # 2,000 rows: one piece
    monkeypatch.setattr(readers, "PIECE_BYTES", 8 * 1024)
    with readers.open_table(str(path), "list.xlsx", kind="companies") as table:
        pieces = list(table.rows)
    assert pieces == whole and len(whole) > 1900


def test_rows_without_numbers_are_read_whole(tmp_path, monkeypatch):
    """A writer that leaves out the rows' r attributes: calamine would number each piece's rows from 1 again, so
    such a sheet is read whole."""
    import zipfile

    buf = io.BytesIO()
    wb = Workbook()
    ws = wb.active
    ws.append(["企业名称", "备注"])
    for i in range(500):
        ws.append([f"公司{i}", "x"])
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    path = tmp_path / "plain.xlsx"
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                import re

                data = re.sub(rb'<row r="\d+"', b"<row", data)
            out.writestr(info, data)
    monkeypatch.setattr(readers, "PIECE_BYTES", 4 * 1024)
    with readers.open_table(str(path), "plain.xlsx", kind="companies") as table:
        rows = list(table.rows)
    assert [n for n, _c in rows] == list(range(2, 502))
    assert rows[-1][1][0] == "公司499"
