"""The preview (IE-1, IE-3) and the commit (all or nothing, IE-1; idempotent, IE-2), on SQLite and PostgreSQL."""
import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.companies.models import Company, Contact
from crm.errors import Conflict
from crm.extensions import db
from crm.imports import services
from crm.imports.models import ImportRecord, ImportRun
from crm.projects.models import Project

from ..factories import VALID_USCC, make_company, make_contact, make_reference, make_user
from .helpers import COMPANY_HEADER, committed, csv_bytes, previewed, problems, upload, xlsx


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def zone():
    make_reference()
    officer = make_user("officer", name="王一", locale="en")
    other = make_user("officer", name="李四", locale="en")
    return officer, other


def messages(flag) -> str:
    return " | ".join(f"{c}: {m}" for c, m in flag.problems or [])


def test_preview_names_every_problem_by_row_and_column_and_writes_nothing(zone):
    officer, other = zone
    held = make_company("深圳华信电子有限公司", owner=other, uscc=VALID_USCC[0])
    make_company("东莞宏达精密有限公司", owner=other, contacts=[{"name": "周总", "mobile": "13911112222"}])
    bad_uscc = VALID_USCC[1][:-1] + ("0" if VALID_USCC[1][-1] != "0" else "1")
    e = ""
    rows = [
        ["吉安新能源科技有限公司", VALID_USCC[2], "电子信息", "深圳", 50, 100, "陈工", "１３８００１３８０００", e],
        ["坏代码有限公司", bad_uscc, e, e, e, e, e, e, e],  # 4 check digit
        ["未知集群有限公司", e, "航天航空", e, e, e, e, e, e],  # 5 cluster
        ["未知城市有限公司", e, e, "火星", e, e, e, e, e],  # 6 city
        ["坏电话有限公司", e, e, e, e, e, "刘工", "12345", e],  # 7 phone
        [e, e, "绿色食品", e, e, e, e, e, "没有名字"],  # 8 no name
        ["吉安新能源科技（深圳）有限公司", e, e, e, e, e, e, e, e],  # 9 same as 3
        ["深圳华信电子有限公司", VALID_USCC[0], e, e, 999, e, e, e, e],  # 10 held by another
        ["宏达精密", e, e, e, e, e, "周总", "13911112222", e],  # 11 same phone
        ["数字代码有限公司", 913502115628130384, e, e, e, e, e, e, e],  # 12 a number
        ["坏数字有限公司", e, e, e, "十二", e, e, e, e],  # 13 not a whole number
    ]
    data = xlsx(rows, header=COMPANY_HEADER, title="2025年深圳招商活动签到表")
    before = (count(Company), count(Contact), count(AuditEvent))
    run = previewed(data, officer)
    assert run.status == "previewed" and run.header_row == 2
    flagged = problems(run)
    assert set(flagged) == {4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, {k: messages(v) for k, v in flagged.items()}
    assert "统一社会信用代码" in messages(flagged[4]) and "check character" in messages(flagged[4])
    assert "产业集群" in messages(flagged[5]) and "航天航空" in messages(flagged[5])
    assert "来源城市" in messages(flagged[6]) and "火星" in messages(flagged[6])
    assert "手机" in messages(flagged[7])
    assert "企业名称" in messages(flagged[8]) and "required" in messages(flagged[8])
    assert flagged[9].action == "duplicate" and "row 3" in messages(flagged[9])
    assert flagged[10].action == "update" and flagged[10].match["owner"] == "李四"
    assert "held by 李四" in messages(flagged[10]) and flagged[10].options == ["skip"]
    assert flagged[10].match["id"] is None or not flagged[10].match["visible"]
    assert flagged[11].action == "duplicate" and flagged[11].match["reason"] == "phone"
    assert "Text" in messages(flagged[12])
    assert "whole number" in messages(flagged[13])
    for row in (4, 5, 6, 7, 8, 12, 13):
        assert flagged[row].action == "error"
    assert run.counts == {"create": 1, "error": 7, "duplicate": 2, "update": 1}
    assert (count(Company), count(Contact), count(AuditEvent)) == before
    assert held.name == "深圳华信电子有限公司"
    # the commit is refused while problems remain
    with pytest.raises(Conflict):
        services.start(run.id, "commit", actor=officer)
    assert (count(Company), count(Contact)) == before[:2]
    # skipping every problem row lets it through: one company (with its contact, phone folded to half-width)
    services.choose_all(run.id, "error", "skip", actor=officer)
    run = committed(run, officer)
    assert run.status == "committed", run.message
    assert count(Company) == before[0] + 1
    created = db.session.scalar(select(Company).where(Company.uscc == VALID_USCC[2]))
    assert created.owner_id == officer.id and created.cluster == "electronic_info" and created.origin_city == "shenzhen"
    assert db.session.scalar(select(Contact.mobile).where(Contact.company_id == created.id)) == "13800138000"
    assert "xanxnykjyxgs" not in created.search_text and "jaxnykj" in created.search_text


def test_identifiers_dates_and_text_survive(zone):
    officer, _other = zone
    header = ["项目名称", "企业名称", "计划开工", "计划投产", "计划投资（万元）", "用地（亩）", "重点项目"]
    make_company("吉安恒达新材料有限公司", owner=officer)
    rows = [["新材料一期", "吉安恒达新材料有限公司", 45352, "2026年3月1日", "1,200", 50.5, "是"],
            ["新材料二期", "吉安恒达新材料有限公司", date(2025, 5, 1), "2026/06/30", 800, "", "否"],
            ["新材料三期", "吉安恒达新材料有限公司", "下个月", "", "", "", ""]]
    run = previewed(xlsx(rows, header=header, formats={"C2": "General"}), officer, kind="projects")
    flagged = problems(run)
    assert set(flagged) == {4}
    assert "计划开工" in messages(flagged[4])
    services.choose(run.id, 4, "skip", actor=officer)
    run = committed(run, officer)
    assert run.status == "committed", run.message
    first = db.session.scalar(select(Project).where(Project.name == "新材料一期"))
    assert first.planned_start == date(2024, 3, 1) and first.planned_production == date(2026, 3, 1)
    assert first.planned_investment == Decimal("1200.00") and first.land_mu == Decimal("50.50") and first.key_project
    second = db.session.scalar(select(Project).where(Project.name == "新材料二期"))
    assert second.planned_start == date(2025, 5, 1) and not second.key_project and second.owner_id == officer.id


def test_landline_leading_zero_kept_as_text_and_lost_as_a_number(zone):
    officer, _other = zone
    header = ["企业名称", "联系人", "手机"]
    rows = [["甲有限公司", "甲", "01012345678"], ["乙有限公司", "乙", 1012345678], ["丙有限公司", "丙", 13800138000]]
    run = previewed(xlsx(rows, header=header), officer)
    flagged = problems(run)
    assert set(flagged) == {3}
    assert "手机" in messages(flagged[3])
    services.choose(run.id, 3, "skip", actor=officer)
    committed(run, officer)
    phones = set(db.session.scalars(select(Contact.mobile)))
    assert phones == {"010-12345678", "13800138000"}


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", False), ("utf-8", True), ("gb18030", False)])
def test_csv_in_every_encoding(zone, encoding, bom):
    officer, _other = zone
    rows = [["企业名称", "统一社会信用代码", "产业集群", "备注"],
            ["赣州绿源食品有限公司", VALID_USCC[0], "绿色食品", "“引号”与中文"],
            ["科学计数有限公司", "9.13502E+17", "", ""]]
    run = previewed(csv_bytes(rows, encoding=encoding, bom=bom), officer, filename="名单.csv")
    assert run.status == "previewed", run.message
    flagged = problems(run)
    assert set(flagged) == {3} and "Text" in messages(flagged[3])
    services.choose(run.id, 3, "skip", actor=officer)
    committed(run, officer)
    company = db.session.scalar(select(Company))
    assert (company.name, company.uscc, company.cluster, company.notes) == \
        ("赣州绿源食品有限公司", VALID_USCC[0], "green_food", "“引号”与中文")


def test_reimport_is_all_unchanged_and_adds_nothing(zone):
    """IE-2: the same file twice; companies by USCC (and by name without one), contacts by (company, phone)."""
    officer, _other = zone
    rows = [["华信电子有限公司", VALID_USCC[0], "电子信息", "深圳", 10, 20, "王", "13800138000", ""],
            ["无代码有限公司", "", "", "", "", "", "", "", ""]]
    data = xlsx(rows, header=COMPANY_HEADER)
    committed(previewed(data, officer), officer)
    before = (count(Company), count(Contact))
    again = previewed(data, officer)
    assert again.counts == {"unchanged": 2}
    committed(again, officer)
    assert (count(Company), count(Contact)) == before
    contacts = xlsx([["华信电子有限公司", "王", "13800138000", "总经理"]], header=["企业名称", "姓名", "手机", "职务"])
    first = committed(previewed(contacts, officer, kind="contacts"), officer)
    assert first.counts["update"] == 1 and first.counts["written"] == 1
    assert db.session.scalar(select(Contact.title)) == "总经理"
    assert previewed(contacts, officer, kind="contacts").counts == {"unchanged": 1}
    assert count(Contact) == 1


def test_commit_rereads_and_previews_again_when_the_book_changed(zone):
    """IE-1: a company with the file's code is created after the preview: the commit writes nothing."""
    officer, other = zone
    rows = [["新建一有限公司", VALID_USCC[0], "", "", "", "", "", "", ""],
            ["新建二有限公司", VALID_USCC[1], "", "", "", "", "", "", ""]]
    run = previewed(xlsx(rows, header=COMPANY_HEADER), officer)
    assert run.counts == {"create": 2}
    make_company("抢先有限公司", owner=other, uscc=VALID_USCC[1])
    services.start(run.id, "commit", actor=officer)
    run = services.commit(run.id, actor=officer)
    assert run.status == "previewed" and "changed" in run.message
    assert count(Company) == 1
    assert run.counts == {"create": 1, "update": 1}
    assert problems(run)[3].match["owner"] == "李四"


def test_a_failure_in_the_middle_rolls_back_everything(zone, monkeypatch):
    """The commit is one transaction: an error on the 1,503rd row leaves nothing of the 1,502 before it."""
    officer, _other = zone
    rows = [[f"批量企业{i}有限公司", "", "", "", i, "", "", "", ""] for i in range(2000)]
    run = previewed(xlsx(rows, header=COMPANY_HEADER), officer)
    assert run.counts == {"create": 2000}
    original = services._Companies.write
    calls = []

    def failing(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, batch)

    monkeypatch.setattr(services._Companies, "write", failing)
    services.start(run.id, "commit", actor=officer)
    with pytest.raises(RuntimeError):
        services.run_phase(run.id, "commit")
    db.session.rollback()
    assert count(Company) == 0 and count(ImportRecord) == 0
    run = db.session.get(ImportRun, run.id)
    assert run.status == "previewed" and "nothing was written" in run.message
    monkeypatch.setattr(services._Companies, "write", original)
    services.start(run.id, "commit", actor=officer)
    assert services.run_phase(run.id, "commit") == "committed"
    assert count(Company) == 2000


def test_duplicate_choices_update_create_or_skip(zone):
    officer, _other = zone
    mine = make_company("吉安华宇电子有限公司", owner=officer, employees=5)
    make_contact(mine, name="赵", mobile="13700137000")
    rows = [["吉安华宇电子（吉安）有限公司", "", "", "", 80, "", "", "", ""],     # 2 name → update
            ["别名科技有限公司", "", "", "", "", "", "赵", "13700137000", ""],    # 3 phone → create anyway
            ["吉安华宇电子股份有限公司", "", "", "", 90, "", "", "", ""]]         # 4 name → skip (default)
    run = previewed(xlsx(rows, header=COMPANY_HEADER), officer)
    flagged = problems(run)
    assert [flagged[r].action for r in (2, 3, 4)] == ["duplicate"] * 3
    assert flagged[2].options == ["skip", "update", "create"] and flagged[2].choice == "skip"
    services.choose(run.id, 2, "update", actor=officer)
    services.choose(run.id, 3, "create", actor=officer)
    assert services.decisions(run) == {"update": 1, "create": 1, "skip": 1}
    run = committed(run, officer)
    assert run.status == "committed", run.message
    db.session.expire_all()
    updated = db.session.get(Company, mine.id)
    assert updated.employees == 80 and updated.name == "吉安华宇电子（吉安）有限公司"
    assert count(Company) == 2


def test_not_a_spreadsheet_and_other_bad_files_are_refused_clearly(zone, app):
    officer, _other = zone
    cases = {
        "html.xlsx": (b"<html><body>not a workbook</body></html>", "not an Excel workbook"),
        "macro.xlsm": (xlsx([["a"]], header=["企业名称"]), "Macro-enabled"),
        "secret.xlsx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "password-protected"),
        "broken.xlsx": (b"PK\x03\x04" + b"\0" * 200, "damaged"),
        "empty.xlsx": (xlsx([]), "empty"),
        "empty.csv": (b"", "empty"),
        "binary.csv": (b"\x00\x01\x02\x03garbage", "not a spreadsheet"),
        "merged.xlsx": (xlsx([["甲有限公司", "x"]], header=["企业名称", "备注"], merge="A1:B1"), "merged"),
        "picture.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a spreadsheet"),
    }
    kept = set(services.import_dir().iterdir())
    for name, (data, expected) in cases.items():
        with pytest.raises(services.Invalid) as caught:
            upload(data, officer, filename=name)
        assert expected in caught.value.message, (name, caught.value.message)
    assert count(ImportRun) == 0
    assert set(services.import_dir().iterdir()) == kept  # nothing of a refused file is kept
    app.config["CRM_IMPORT_MAX_BYTES"] = 1024
    try:
        with pytest.raises(services.Invalid) as caught:
            upload(xlsx([["x" * 2000]], header=["企业名称"]), officer)
        assert "larger than" in caught.value.message
    finally:
        del app.config["CRM_IMPORT_MAX_BYTES"]


def test_title_rows_and_header_found_with_english_headers(zone):
    officer, _other = zone
    header = ["Company name", "Unified social credit code", "Industry cluster", "Origin city", "Notes"]
    run = previewed(xlsx([["Huaxin Electronics Co., Ltd.", VALID_USCC[0], "Electronic information", "Dongguan",
                           "=HYPERLINK(\"http://evil.test\")"]], header=header, title="Sign-in sheet"), officer)
    assert run.header_row == 2 and run.mapping == {"0": "name", "1": "uscc", "2": "cluster", "3": "origin_city",
                                                   "4": "notes"}
    committed(run, officer)
    company = db.session.scalar(select(Company))
    assert company.cluster == "electronic_info" and company.origin_city == "dongguan"


def test_formula_cells_are_text_for_free_text_and_refused_for_identity(zone):
    """IE-4 on import: a real formula in a name is refused; in notes it is kept as its text."""
    officer, _other = zone
    rows = [["=CONCAT(\"甲\",\"乙\")", "", "", "", "", "", "", "", ""],
            ["公式备注有限公司", "", "", "", "", "", "", "", "=1+2"]]
    data = xlsx(rows, header=COMPANY_HEADER)
    run = previewed(data, officer)
    flagged = problems(run)
    assert set(flagged) == {2} and "formula" in messages(flagged[2])
    services.choose(run.id, 2, "skip", actor=officer)
    committed(run, officer)
    assert db.session.scalar(select(Company.notes)) == "=1+2"


def test_mapping_is_adjustable_and_checked(zone):
    officer, _other = zone
    run = upload(xlsx([["吉安甲有限公司", "深圳"]], header=["公司全名称", "城市"]), officer)
    assert run.mapping == {"1": "origin_city"}
    assert [c.key for c in services.missing_columns("companies", run.mapping)] == ["name"]
    with pytest.raises(services.Invalid):
        services.start(run.id, "preview", actor=officer)
    with pytest.raises(services.Invalid):
        services.set_mapping(run.id, {"0": "origin_city", "1": "origin_city"}, actor=officer)
    services.set_mapping(run.id, {"0": "name", "1": "origin_city"}, actor=officer)
    run = services.preview(run.id, actor=officer)
    assert run.counts == {"create": 1}


def test_import_io_stream_upload_keeps_the_file_under_the_instance_folder(zone, app):
    officer, _other = zone
    run = services.upload(io.BytesIO(xlsx([["甲有限公司"]], header=["企业名称"])), "../../etc/passwd.xlsx",
                          kind="companies", actor=officer)
    path = services.stored_path(run)
    assert path.parent == services.import_dir() and path.exists() and run.filename == "passwd.xlsx"
    assert str(path).startswith(app.instance_path)


def _zip(parts: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_hostile_workbooks_are_refused_quickly_and_without_memory(zone):
    """IE-5: a zip bomb, XML entities (billion laughs / XXE), too many sheets, too many rows."""
    import resource
    import time

    officer, _other = zone
    base = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
    bomb = _zip({**base, "xl/worksheets/sheet1.xml": b" " * (60 * 1024 * 1024)})
    laughs = _zip({**base, "xl/sharedStrings.xml": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                                                   b'<!ENTITY lol2 "&lol;&lol;&lol;">]><sst>&lol2;</sst>'})
    start, peak = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for data, expected in ((bomb, "unpacks"), (laughs, "entity"), (xlsx([["甲"]], header=["企业名称"], sheets=60),
                                                                    "too many sheets")):
        with pytest.raises(services.Invalid) as caught:
            upload(data, officer)
        assert expected in caught.value.message
    assert time.perf_counter() - start < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 300 * 1024  # KB: under 300 MB more


def test_row_limit_from_the_dimension_and_while_streaming(zone, app):
    officer, _other = zone
    app.config["CRM_IMPORT_MAX_ROWS"] = 50
    try:
        with pytest.raises(services.Invalid) as caught:
            upload(xlsx([[f"企业{i}有限公司"] for i in range(100)], header=["企业名称"]), officer)
        assert "more than 50 rows" in caught.value.message
        rows = [["企业名称"]] + [[f"企业{i}有限公司"] for i in range(100)]
        run = previewed(csv_bytes(rows), officer, filename="big.csv")
        assert run.status == "failed" and "more than 50 rows" in run.message
        assert count(Company) == 0
    finally:
        del app.config["CRM_IMPORT_MAX_ROWS"]


def test_two_overlapping_imports_at_once_give_no_duplicates(app, zone):
    """IE-2: two commits of overlapping files run at the same moment (threads, each its own session): one writes,
    the other finds the book changed, writes nothing and previews again; committed afterwards it adds the rest."""
    import threading

    officer, _other = zone
    e = ""
    first = previewed(xlsx([[f"重叠{i}有限公司", VALID_USCC[i], e, e, e, e, e, e, e] for i in (0, 1)],
                           header=COMPANY_HEADER), officer)
    second = previewed(xlsx([[f"重叠{i}有限公司", VALID_USCC[i], e, e, e, e, e, e, e] for i in (1, 2)],
                            header=COMPANY_HEADER), officer)
    ids = [first.id, second.id]
    for import_id in ids:
        services.start(import_id, "commit", actor=officer)
    barrier, outcomes = threading.Barrier(2), {}

    def commit(import_id):
        with app.app_context():
            barrier.wait()
            outcomes[import_id] = services.run_phase(import_id, "commit")

    threads = [threading.Thread(target=commit, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes.values()) == ["committed", "previewed"], outcomes
    db.session.rollback()
    assert count(Company) in (2,)
    again = next(i for i, status in outcomes.items() if status == "previewed")
    run = committed(db.session.get(ImportRun, again), officer)
    assert run.status == "committed" and run.counts["unchanged"] == 1 and run.counts["create"] == 1
    assert count(Company) == 3
    assert len(set(db.session.scalars(select(Company.uscc)))) == 3


def test_an_expired_preview_or_a_changed_file_is_previewed_again_not_written(zone):
    """IE-1: the preview holds for the file's content and a day; past that the commit previews again."""
    from datetime import timedelta

    from crm.core.timeutil import utcnow

    officer, _other = zone
    e = ""
    run = previewed(xlsx([["过期预览有限公司", e, e, e, e, e, e, e, e]], header=COMPANY_HEADER), officer)
    run.previewed_at = utcnow() - services.PREVIEW_TTL - timedelta(minutes=1)
    db.session.commit()
    services.start(run.id, "commit", actor=officer)
    run = services.commit(run.id, actor=officer)
    assert run.status == "previewed" and "expired" in run.message and count(Company) == 0
    services.stored_path(run).write_bytes(xlsx([["换了文件有限公司", e, e, e, e, e, e, e, e]], header=COMPANY_HEADER))
    services.start(run.id, "commit", actor=officer)
    run = services.commit(run.id, actor=officer)
    assert run.status == "failed" and "changed" in run.message and count(Company) == 0


def test_the_commit_checks_reference_lists_again_and_reads_the_file_without_the_parse(zone):
    """The commit reuses the preview's parse of the file but asks the book again: a cluster retired since the
    preview stops it (nothing written, previewed again); without the kept parse it reads the file itself."""
    from crm.reference.models import RefItem

    officer, _other = zone
    e = ""
    run = previewed(xlsx([["集群停用有限公司", e, "绿色食品", e, e, e, e, e, e]], header=COMPANY_HEADER), officer)
    assert services.parsed_path(run).exists()
    db.session.scalar(select(RefItem).where(RefItem.key == "green_food")).active = False
    db.session.commit()
    services.start(run.id, "commit", actor=officer)
    run = services.commit(run.id, actor=officer)
    assert run.status == "previewed" and count(Company) == 0
    assert run.counts == {"error": 1}
    db.session.scalar(select(RefItem).where(RefItem.key == "green_food")).active = True
    db.session.commit()
    run = services.preview(run.id, actor=officer)
    services.parsed_path(run).unlink()
    run = committed(run, officer)
    assert run.status == "committed" and count(Company) == 1
