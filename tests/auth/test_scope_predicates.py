"""The Python forms of the access rule for a record already read (access.sees_company, access.sees_project,
access.sees_every_task_of) say exactly what the SQL scopes say, for every role and every kind of holder."""
from sqlalchemy import select

from crm.auth import access
from crm.auth.models import User
from crm.companies.models import Company
from crm.extensions import db
from crm.meetings.models import Task
from crm.projects.models import Project

from ..factories import make_company, make_project, make_reference, make_team, make_user


def _world():
    make_reference()
    team_a, team_b = make_team("一组"), make_team("二组")
    a1, a2 = make_user(team=team_a), make_user(team=team_a)
    b1, loner = make_user(team=team_b), make_user()
    viewers = [a1, a2, b1, loner, make_user("manager"), make_user("admin"), make_user("liaison")]
    companies = [make_company(), make_company(deleted=True)]
    projects = []
    for holder in (a1, a2, b1, loner):
        companies += [make_company(owner=holder), make_company(owner=holder, deleted=True)]
        for confidential in (False, True):
            projects += [make_project(companies[0], owner=holder, confidential=confidential),
                         make_project(companies[0], owner=holder, confidential=confidential, deleted=True)]
    return viewers, companies, projects


def _team_of(user_id):
    return db.session.get(User, user_id).team_id if user_id is not None else None


def test_sees_company_and_sees_project_agree_with_the_sql_scopes(app):
    viewers, companies, projects = _world()
    for viewer in viewers:
        in_sql = set(db.session.scalars(select(Company.id).where(access.company_scope(viewer))))
        for c in companies:
            said = access.sees_company(viewer, deleted=c.deleted_at is not None, owner_id=c.owner_id,
                                       owner_team_id=_team_of(c.owner_id))
            assert said == (c.id in in_sql), (viewer.role, viewer.team_id, c.owner_id, c.deleted_at)
        in_sql = set(db.session.scalars(select(Project.id).where(access.project_scope(viewer))))
        for p in projects:
            said = access.sees_project(viewer, deleted=p.deleted_at is not None, confidential=p.confidential,
                                       owner_id=p.owner_id, owner_team_id=_team_of(p.owner_id))
            assert said == (p.id in in_sql), (viewer.role, viewer.team_id, p.owner_id, p.confidential, p.deleted_at)


def test_whoever_may_open_an_owners_task_page_sees_every_live_task_of_theirs(app):
    viewers, companies, projects = _world()
    owners = [u for u in viewers if u.role == "officer"]
    for owner in owners:
        for company in companies:  # tasks on visible and invisible, live and deleted companies, and on none
            db.session.add(Task(title="t", due_on=company.created_at.date(), owner_id=owner.id,
                                company_id=company.id))
        for project in projects:
            db.session.add(Task(title="t", due_on=project.created_at.date(), owner_id=owner.id,
                                company_id=project.company_id, project_id=project.id))
        db.session.add(Task(title="t", due_on=owner.created_at.date(), owner_id=owner.id))
    db.session.commit()
    for viewer in viewers:
        for owner in owners:
            live = set(db.session.scalars(select(Task.id).where(Task.owner_id == owner.id,
                                                                 Task.deleted_at.is_(None))))
            scoped = set(db.session.scalars(select(Task.id).where(Task.owner_id == owner.id,
                                                                   access.task_scope(viewer))))
            if access.sees_every_task_of(viewer, owner):
                assert scoped == live
            else:
                assert scoped != live


def test_a_confidential_projects_records_name_its_code_name_the_same_way_everywhere():
    """Task rows, the calendar and the feed share projects.queries.shown_company_name: the code name (or "#id"
    without one) to a viewer who may not see the company, the company's name otherwise."""
    from crm.projects.queries import shown_company_name

    def name(**kw):
        return shown_company_name("华星光电", project_id=7, **kw)

    assert name(confidential=True, code_name="北极星", company_visible=False) == "北极星"
    assert name(confidential=True, code_name="", company_visible=False) == "#7"
    assert name(confidential=True, code_name="北极星", company_visible=True) == "华星光电"
    assert name(confidential=False, code_name="北极星", company_visible=False) == "华星光电"
    assert shown_company_name(None, project_id=None, confidential=None, code_name=None, company_visible=True) == ""
