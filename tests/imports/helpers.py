"""Spreadsheets built for the import tests: .xlsx with openpyxl (cell types set explicitly) and .csv in any
encoding, stored and previewed through the real service."""
import io

from openpyxl import Workbook

from crm.imports import services

COMPANY_HEADER = ["企业名称", "统一社会信用代码", "产业集群", "来源城市", "员工人数", "营业收入（万元）", "联系人",
                  "手机", "备注"]


def xlsx(rows: list[list], *, header: list | None = None, title: str | None = None, formats: dict | None = None,
         merge: str | None = None, sheets: int = 1) -> bytes:
    """A workbook whose first sheet holds `header` and `rows`; `formats` maps a cell ("B2") to a number format."""
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    if header is not None:
        ws.append(header)
    for row in rows:
        ws.append(row)
    for ref, fmt in (formats or {}).items():
        ws[ref].number_format = fmt
    if merge:
        ws.merge_cells(merge)
    for i in range(1, sheets):
        wb.create_sheet(f"Sheet{i + 1}")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows: list[list], *, encoding: str = "utf-8", bom: bool = False) -> bytes:
    text = "\r\n".join(",".join(str(c) for c in row) for row in rows) + "\r\n"
    data = text.encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + data


def upload(data: bytes, actor, *, kind: str = "companies", filename: str = "list.xlsx", pool: bool = False):
    return services.upload(io.BytesIO(data), filename, kind=kind, actor=actor, pool=pool)


def previewed(data: bytes, actor, **kw):
    run = upload(data, actor, **kw)
    return services.preview(run.id, actor=actor)


def committed(run, actor):
    services.start(run.id, "commit", actor=actor)
    return services.commit(run.id, actor=actor)


def problems(run) -> dict[int, list]:
    """Row number → [[column, message], ...] of the preview's flagged rows."""
    rows, _total = services.flagged_rows(run, page=1)
    return {r.row: r for r in rows}
