"""Shared pieces of the access-control and input-validation tests: isolated clients, a two-team world, table
checksums and an HTML check for executable content."""
import hashlib
import re
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

from bs4 import BeautifulSoup
from sqlalchemy import select

from crm import create_app
from crm.audit.models import AuditEvent
from crm.core.timeutil import today_in_zone, utcnow
from crm.extensions import db
from crm.meetings.models import Meeting, Task
from crm.notifications.models import Notification
from crm.projects.models import FundsEntry, SavedView
from crm.reference.models import RefItem
from crm.support.models import EnterpriseRequest, Milestone, RequestEvent

from ..conftest import IsolatedClient
from ..factories import (
    VALID_USCC,
    api_token,
    login,
    make_company,
    make_contact,
    make_project,
    make_reference,
    make_team,
    make_user,
)

USCC = VALID_USCC


@contextmanager
def side_app(app, config_name: str = "test", **overrides):
    """A second app on the same database, for tests that must add routes (the suite's app has served requests) or
    need another configuration."""
    other = create_app(config_name, **{"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], **overrides})
    other.instance_path = app.instance_path
    try:
        yield other
    finally:
        with other.app_context():
            db.engine.dispose()
        app.extensions["celery"].set_default()


def client_for(app, user=None) -> IsolatedClient:
    """A fresh client, signed in through the real form when `user` is given."""
    client = IsolatedClient(app, app.response_class, use_cookies=True)
    if user is not None:
        response = login(client, user)
        assert response.status_code == 302, f"sign-in of {user.email} failed: {response.status_code}"
    return client


def api_headers(app, user) -> dict:
    token = api_token(client_for(app), user)
    return {"Authorization": f"Bearer {token}"}


def two_teams() -> SimpleNamespace:
    """Team 1 (officers a, a2) and team 2 (officer b), a manager, an admin, a liaison, and records of each team.

    b (team 2) holds `company_b` with `contact_b`, and `deleted_b` (soft-deleted) with `contact_deleted`.
    a (team 1) holds `company_a` with `contact_a`; `pool` is in the public pool.

    Projects: b holds `project_secret_b` (confidential, signed: team 1 may not see it), `project_b` (ordinary: team 1
    sees it but may not change it) and `project_deleted_b` (soft-deleted), all on company_b; a holds `project_a` on the
    pool company (so company_a keeps no projects and can still be deleted). Funds entries: `funds_b` (on the
    confidential one), `funds_project_b`, `funds_deleted_b` and `funds_a`; `view_b` is b's saved list view.
    Support board: `milestone_b`, `request_b` (the liaison's department's) and deleted ones, on project_secret_b.
    """
    # The factories commit each row; keeping the committed rows loaded while the world is built saves reading each
    # one back, a third to a half of the build, which the role matrix repeats for each of its cases. The last commit
    # of _two_teams expires them all, as before.
    session = db.session()
    session.expire_on_commit = False
    try:
        return _two_teams()
    finally:
        session.expire_on_commit = True


def _two_teams() -> SimpleNamespace:
    make_reference()
    team1, team2 = make_team("一组"), make_team("二组")
    w = SimpleNamespace(team1=team1, team2=team2)
    w.a = make_user("officer", team=team1, name="王一")
    w.a2 = make_user("officer", team=team1, name="王二")
    w.b = make_user("officer", team=team2, name="李三")
    w.manager = make_user("manager", name="赵局")
    w.admin = make_user("admin", name="管理员")
    w.liaison = make_user("liaison", name="联络员", department="natural_resources")
    w.company_b = make_company("二组深圳华信电子有限公司", owner=w.b, uscc=USCC[0], cluster="electronic_info")
    w.contact_b = make_contact(w.company_b, name="二组联系人", mobile="13900139000", wechat="wx_team2")
    w.deleted_b = make_company("二组已删除科技有限公司", owner=w.b, uscc=USCC[1])
    w.contact_deleted = make_contact(w.deleted_b, name="已删联系人", mobile="13700137000")
    w.deleted_b.deleted_at = utcnow()
    w.company_a = make_company("一组东莞宏达电子有限公司", owner=w.a, uscc=USCC[2])
    w.contact_a = make_contact(w.company_a, name="一组联系人", mobile="13600136000")
    w.pool = make_company("公海赣州绿源食品有限公司")
    w.project_secret_b = make_project(w.company_b, owner=w.b, name="二组机密项目", stage="signed",
                                      confidential=True, code_name="白鹭", planned_investment=5000)
    w.project_b = make_project(w.company_b, owner=w.b, name="二组公开项目", stage="lead", planned_investment=800)
    w.project_deleted_b = make_project(w.company_b, owner=w.b, name="二组已删项目", deleted=True)
    w.project_a = make_project(w.pool, owner=w.a, name="一组公海项目", stage="signed", planned_investment=1200)
    today = today_in_zone()
    w.funds_b, w.funds_project_b, w.funds_deleted_b, w.funds_a = (
        FundsEntry(project_id=p.id, received_on=today, amount=Decimal("100"), actor_id=p.owner_id)
        for p in (w.project_secret_b, w.project_b, w.project_deleted_b, w.project_a))
    db.session.add_all([w.funds_b, w.funds_project_b, w.funds_deleted_b, w.funds_a])
    for p in (w.project_secret_b, w.project_b, w.project_deleted_b, w.project_a):
        p.funds_in_place = Decimal("100")
    w.view_b = SavedView(user_id=w.b.id, kind="projects", name="二组的视图", query="stage=lead")
    db.session.add(w.view_b)
    db.session.commit()
    # meetings and tasks: b's on b's company (outside team 1's scope), one of them on the confidential project,
    # and deleted ones; a's own meeting and task on the pool company
    at = utcnow() - timedelta(days=1)
    w.meeting_b = Meeting(type="visit", start_at=at, company_id=w.company_b.id, project_id=w.project_secret_b.id,
                          owner_id=w.b.id, summary="二组机密拜访")
    w.meeting_deleted_b = Meeting(type="call", start_at=at, company_id=w.company_b.id, owner_id=w.b.id,
                                  deleted_at=utcnow())
    w.meeting_a = Meeting(type="visit", start_at=at, company_id=w.pool.id, project_id=w.project_a.id,
                          owner_id=w.a.id, summary="一组拜访")
    db.session.add_all([w.meeting_b, w.meeting_deleted_b, w.meeting_a])
    db.session.flush()
    w.task_b = Task(title="二组待办", due_on=today, owner_id=w.b.id, company_id=w.company_b.id,
                    project_id=w.project_secret_b.id, meeting_id=w.meeting_b.id)
    w.task_deleted_b = Task(title="二组已删待办", due_on=today, owner_id=w.b.id, company_id=w.company_b.id,
                            deleted_at=utcnow())
    w.task_a = Task(title="一组待办", due_on=today, owner_id=w.a.id, company_id=w.pool.id, meeting_id=w.meeting_a.id)
    db.session.add_all([w.task_b, w.task_deleted_b, w.task_a])
    db.session().expire_on_commit = True
    db.session.commit()
    # reminders: b's sent one (team 1 may not open it), a's failed one (a manager may send it again)
    w.notification_b = Notification(kind="digest", recipient_id=w.b.id, object_type="user", object_id=w.b.id,
                                    period="2025-03-03", key=f"digest/{w.b.id}/user:{w.b.id}/2025-03-03",
                                    status="sent", attempts=1, subject="二组每日提醒", body_text="二组待办",
                                    sent_at=utcnow())
    w.notification_a = Notification(kind="digest", recipient_id=w.a.id, object_type="user", object_id=w.a.id,
                                    period="2025-03-03", key=f"digest/{w.a.id}/user:{w.a.id}/2025-03-03",
                                    status="failed", attempts=5, last_error="SMTPRecipientsRefused: 550")
    db.session.add_all([w.notification_b, w.notification_a])
    db.session.commit()
    _support_records(w, today)
    # an import uploaded by b (its file is not needed: the pages show its state)
    from crm.imports.models import ImportRun

    w.import_b = ImportRun(kind="companies", filename="二组名单.xlsx", stored_name="absent.xlsx", file_hash="0" * 64,
                           size=0, actor_id=w.b.id, status="uploaded", header=["企业名称"], mapping={"0": "name"},
                           message="")
    db.session.add(w.import_b)
    db.session.commit()
    w.ref_item = db.session.scalar(select(RefItem).where(RefItem.kind == "cluster").order_by(RefItem.id))
    return w


def _support_records(w: SimpleNamespace, today) -> None:
    """The support board's records of team 2, on its confidential project (signed: milestones and requests are
    tracked from signing on), so team 1 may open none of them: `milestone_b` and `request_b`, both the land
    department's (the liaison's), and a deleted milestone and request of it."""
    w.milestone_b = Milestone(project_id=w.project_secret_b.id, kind="land_acquired", sort=10, owner_id=w.b.id,
                              department="natural_resources", planned_date=today + timedelta(days=30), note="")
    w.milestone_deleted_b = Milestone(project_id=w.project_secret_b.id, kind="planning_permit", sort=20,
                                      owner_id=w.b.id, note="", deleted_at=utcnow(), deleted_by_id=w.b.id)
    w.request_b = EnterpriseRequest(project_id=w.project_secret_b.id, company_id=w.company_b.id, category="land",
                                    description="二组用地诉求", department="natural_resources", owner_id=w.b.id,
                                    deadline=today + timedelta(days=10), status="open", resolution="",
                                    created_by_id=w.b.id)
    w.request_deleted_b = EnterpriseRequest(project_id=w.project_secret_b.id, company_id=w.company_b.id,
                                            category="other", description="二组已删诉求",
                                            department="natural_resources", owner_id=w.b.id, deadline=today,
                                            status="open", resolution="",
                                            created_by_id=w.b.id, deleted_at=utcnow(), deleted_by_id=w.b.id)
    db.session.add_all([w.milestone_b, w.milestone_deleted_b, w.request_b, w.request_deleted_b])
    db.session.flush()
    db.session.add(RequestEvent(request_id=w.request_b.id, project_id=w.project_secret_b.id, at=utcnow(),
                                actor_id=w.b.id, action="created", from_status=None, to_status="open", note=""))
    db.session.commit()


#: tables whose rows an action may not touch when it is refused; audit_event is checked on its own
_VOLATILE_COLUMNS = {("user_session", "last_seen_at")}


def checksum(*table_names: str) -> str:
    """A hash of every row of the named tables (all tables but audit_event when none are named)."""
    db.session.rollback()
    tables = [t for t in db.metadata.sorted_tables
              if (t.name in table_names) or (not table_names and t.name != "audit_event")]
    digest = hashlib.sha256()
    for table in tables:
        cols = [c for c in table.columns if (table.name, c.name) not in _VOLATILE_COLUMNS]
        rows = db.session.execute(select(*cols).order_by(*table.primary_key.columns)).all()
        digest.update(f"{table.name}:{[tuple(map(repr, r)) for r in rows]}".encode())
    db.session.rollback()
    return digest.hexdigest()


def audit_actions_since(last_id: int) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.id > last_id)))


def last_audit_id() -> int:
    db.session.rollback()
    return db.session.scalar(select(db.func.max(AuditEvent.id))) or 0


#: the only scripts a page may load: vendored files under /static, no inline code
STATIC_SCRIPTS = {"/static/vendor/tabler/tabler.min.js", "/static/vendor/htmx/htmx.min.js", "/static/js/app.js"}


def executable_content(html: str) -> list[str]:
    """Everything in a page that a browser could run: foreign or inline scripts, on* handlers, javascript: URLs."""
    soup = BeautifulSoup(html, "html.parser")
    found = []
    for tag in soup.find_all(True):
        if tag.name == "script":
            src = (tag.get("src") or "").split("?")[0]
            if src not in STATIC_SCRIPTS or tag.string:
                found.append(f"<script src={src!r}>{tag.string or ''}</script>")
        if tag.name in {"iframe", "object", "embed", "base"}:
            found.append(f"<{tag.name}>")
        for attr, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if attr.lower().startswith("on"):
                found.append(f"<{tag.name} {attr}={text!r}>")
            if attr.lower() in {"href", "src", "action", "formaction", "xlink:href"} and \
                    text.strip().lower().replace("\t", "").startswith(("javascript:", "data:text/html", "vbscript:")):
                found.append(f"<{tag.name} {attr}={text!r}>")
    return found


def company_ids_in(html: str) -> set[int]:
    """Ids of the companies a list page links to in its table."""
    soup = BeautifulSoup(html, "html.parser")
    links = [a["href"] for a in soup.select("table a[href]")]
    return {int(m.group(1)) for href in links if (m := re.fullmatch(r"/companies/(\d+)", href))}


def page_text(html: str) -> str:
    """The text a person reads (entities decoded), plus attribute values, to check that a value was shown."""
    soup = BeautifulSoup(html, "html.parser")
    values = [str(v) for tag in soup.find_all(True) for k, v in tag.attrs.items() if k == "value"]
    values += [t.get_text() for t in soup.find_all("textarea")]
    return soup.get_text(" ") + "\n" + "\n".join(values)


def form_values(html: str, form_selector: str = "form[method=post]") -> dict:
    """The values a browser would submit for the first matching form (inputs, selects, textareas)."""
    soup = BeautifulSoup(html, "html.parser")
    forms = [f for f in soup.select(form_selector) if f.select("[name=name]")] or soup.select(form_selector)
    form = forms[0]
    data = {}
    for field in form.find_all(["input", "select", "textarea"]):
        name = field.get("name")
        if not name:
            continue
        if field.name == "input":
            if field.get("type") in {"checkbox", "radio"}:
                if field.has_attr("checked"):
                    data[name] = field.get("value", "y")
                continue
            data[name] = field.get("value", "")
        elif field.name == "select":
            chosen = field.find("option", selected=True) or field.find("option")
            data[name] = chosen.get("value", "") if chosen else ""
        else:
            text = field.get_text()
            data[name] = text[2:] if text.startswith("\r\n") else text[1:] if text.startswith("\n") else text
    return data
