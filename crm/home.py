"""The landing page after sign-in: what the officer holds, what is in the pool, recent changes."""
from datetime import timedelta

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from crm.audit.models import AuditEvent
from crm.auth import access
from crm.companies.models import Company
from crm.core.timeutil import as_aware, utcnow, zone
from crm.extensions import db
from crm.jobs import services as scheduler
from crm.meetings import queries as meeting_queries
from crm.meetings import services as meeting_services
from crm.projects import queries as project_queries
from crm.projects import stages

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    me = current_user._get_current_object()
    if me.role not in access.STAFF_ROLES:
        return _liaison_home(me)
    scope = access.company_scope(me)

    def count(*conds):
        return db.session.scalar(select(func.count()).select_from(Company).where(scope, *conds))

    soon = utcnow().replace(microsecond=0)
    stats = {
        "mine": count(Company.owner_id == me.id),
        "pool": count(Company.owner_id.is_(None), Company.status == "prospect"),
        "visible": count(),
        "expiring": count(Company.owner_id == me.id, Company.claimed_until.is_not(None),
                          Company.claimed_until < soon + timedelta(days=14)),
    }
    recent = list(db.session.scalars(
        select(Company).where(scope, Company.owner_id == me.id).order_by(Company.updated_at.desc()).limit(8)))
    activity = list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.actor_id == me.id,
                                 AuditEvent.object_type.in_(("company", "contact", "project")))
        .order_by(AuditEvent.at.desc()).limit(10)))
    return render_template("home/index.html", stats=stats, recent=recent, activity=activity,
                           pipeline=project_queries.my_pipeline(me), stages=stages.STAGES,
                           my_tasks=_my_tasks(me))


#: the home page's "my tasks today" lists this many of the overdue and today tasks
HOME_TASKS = 5


def _my_tasks(me) -> dict:
    """The overdue and today counts, and the first few of those tasks (each with whether it is overdue)."""
    groups = meeting_queries.task_groups(me, me)
    now = utcnow()
    first = [*groups.overdue, *groups.today][:HOME_TASKS]
    return {"overdue": groups.counts.get("overdue", 0), "today": groups.counts.get("today", 0),
            "done_today": len(groups.done_today), "day": now.astimezone(zone()).date(),
            "rows": [(t, meeting_services.is_overdue(t, now=now)) for t in first]}


def _liaison_home(me):
    """A department liaison's home: the open requests routed to their department and the milestones it answers for,
    most urgent first (and nothing else: crm.support.access)."""
    from crm.reference import services as reference
    from crm.support import queries as support
    from crm.support.models import CATEGORY_BY_KEY, MILESTONE_BY_KEY, status_label

    requests = support.request_list(me, limit=20)
    milestones = [r for r in support.open_milestones(me, limit=40) if r.status in ("red", "yellow")][:20]
    names = support.project_names(me, [r.project for r in requests] + [m.milestone.project for m in milestones])
    return render_template("home/liaison.html", requests=requests, milestones=milestones, names=names,
                           department_name=reference.names("department").get(me.department or "", me.department),
                           category_by_key=CATEGORY_BY_KEY, milestone_by_key=MILESTONE_BY_KEY,
                           request_status_label=status_label, support_today=support.services.today())


@bp.route("/healthz")
def healthz():
    db.session.execute(select(1))
    return {"status": "ok"}


@bp.route("/healthz/scheduler")
def healthz_scheduler():
    """For monitoring, without sign-in (RM-11): 503 when the reminder sweep missed its time, i.e. beat stopped
    dispatching or no worker runs it. Names, times and flags only; what a run did is on the admin page."""
    jobs = scheduler.health()
    body = {"ok": not next(h.missed for h in jobs if h.job.name == scheduler.SWEEP),
            "jobs": [{"name": h.job.name, "last_run": as_aware(h.last.started_at).isoformat() if h.last else None,
                      "ok": h.ok, "missed": h.missed, "too_often": h.too_often} for h in jobs]}
    return body, 200 if body["ok"] else 503


@bp.route("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="img/favicon.svg"))
