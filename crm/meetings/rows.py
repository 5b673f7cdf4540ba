"""Task rows as the lists show them ("my tasks", a meeting's follow-ups): worked out once per page in Python, so the
template's row loop only writes strings. "My tasks" may hold a few hundred rows; a `url_for`, a `_()` or a
`csrf_token()` per row used to cost more than the page's queries."""
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import format_date
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from crm.auth import access
from crm.auth.models import User
from crm.core.timeutil import to_zone, utcnow, zone
from crm.extensions import db
from crm.i18n import gettext as _
from crm.projects.models import Project
from crm.projects.queries import shown_company_name, visible_company_ids
from crm.web import RowUrls

from . import services
from .models import Task
from .queries import TaskRefs


@dataclass
class Links:
    """Which of the records' companies and projects the viewer may open (others are named, not linked)."""
    company_ids: set[int]
    project_ids: set[int]

    @classmethod
    def of(cls, me: User, records) -> "Links":
        project_ids = {r.project_id for r in records if r.project_id}
        return cls(
            visible_company_ids(me, [r for r in records if r.company_id]),
            set(db.session.scalars(select(Project.id).where(Project.id.in_(project_ids), access.project_scope(me))))
            if project_ids else set())

    def company_name(self, record, refs: TaskRefs | None = None) -> str:
        """The company's name, or a confidential project's code name where the viewer may not see the company.
        `refs` gives the names where the record's company and project were not loaded as objects."""
        if refs is None:
            project, company = record.project, record.company
            refs = TaskRefs(company.name if company is not None else None, project and project.name,
                            project and project.code_name, project and project.confidential)
        return shown_company_name(refs.company_name, project_id=record.project_id,
                                  confidential=refs.project_confidential, code_name=refs.project_code_name,
                                  company_visible=record.company_id in self.company_ids)

    def project_name(self, record, refs: TaskRefs | None = None) -> str:
        if record.project_id not in self.project_ids:
            return ""
        return refs.project_name if refs is not None else record.project.name


@dataclass
class TaskRow:
    task: Task
    overdue: bool
    due_label: str
    #: the company's name (or a confidential project's code name) and its link ("" where the viewer may not open it)
    company_name: str
    company_url: str
    project_name: str
    project_url: str
    meeting_url: str
    editable: bool
    #: done (or, for a done task, reopen), snooze and edit: "" where the viewer may not change the task
    check_url: str
    check_label: str
    snooze_url: str
    edit_url: str


class TaskRows:
    """What every task row of a page needs, once: today, the fixed words, the CSRF token, the link patterns and which
    companies and projects the viewer may open. `back` is where the rows' buttons return to."""

    def __init__(self, me: User, back: str, links: Links):
        self.me = me
        self.back = back
        self.links = links
        self.now = utcnow()
        self.today = self.now.astimezone(zone()).date()
        self.week_end = services.week_end(self.today)
        self.csrf = generate_csrf()
        self.text = {"overdue": _("Overdue"), "meeting": _("Meeting"), "reopen": _("Reopen"),
                     "mark_done": _("Mark done"), "more": _("More"), "snooze": _("Snooze"),
                     "tomorrow": _("To tomorrow"), "next_week": _("To next week"), "edit": _("Edit")}
        # the buttons' labels for screen readers, translated once: "%(title)s" is filled per row
        self._check_labels = {"reopen": _("Reopen: %(title)s"), "mark_done": _("Mark done: %(title)s")}
        self._days = {"today": _("Today"), "tomorrow": _("Tomorrow"), "yesterday": _("Yesterday")}
        self._weekdays: dict[date, str] = {}
        self.url = RowUrls(company=("companies.show", "company_id"), project=("projects.show", "project_id"),
                           meeting=("meetings.show", "meeting_id"), done=("meetings.task_done", "task_id"),
                           reopen=("meetings.task_reopen", "task_id"), snooze=("meetings.task_snooze", "task_id"))
        self.url.add("edit", "meetings.edit_task", "task_id", next=back)

    def due_label(self, task: Task) -> str:
        """When a task is due, as a person reads it: today / tomorrow / a weekday this week / a date; its time if
        any."""
        clock = to_zone(task.due_at).strftime("%H:%M") if task.due_at is not None else ""
        day, today = task.due_on, self.today
        if day == today:
            word = self._days["today"]
        elif day == today + timedelta(days=1):
            word = self._days["tomorrow"]
        elif day == today - timedelta(days=1):
            word = self._days["yesterday"]
        elif today < day <= self.week_end:
            if day not in self._weekdays:
                self._weekdays[day] = format_date(day, "EEE")
            word = self._weekdays[day]
        else:
            word = day.isoformat() if day.year != today.year else day.strftime("%m-%d")
        return f"{word} {clock}".strip()

    def row(self, task: Task, refs: TaskRefs | None = None) -> TaskRow:
        links = self.links
        editable = access.can_edit_task(self.me, task)
        done = task.done_at is not None
        check = ("reopen" if done else "mark_done") if editable else ""
        return TaskRow(
            task=task, overdue=not done and services.is_overdue(task, now=self.now), due_label=self.due_label(task),
            company_name=links.company_name(task, refs),
            company_url=self.url("company", task.company_id) if task.company_id in links.company_ids else "",
            project_name=links.project_name(task, refs),
            project_url=self.url("project", task.project_id) if task.project_id in links.project_ids else "",
            meeting_url=self.url("meeting", task.meeting_id) if task.meeting_id else "",
            editable=editable,
            check_url=self.url("reopen" if done else "done", task.id) if editable else "",
            check_label=self._check_labels[check] % {"title": task.title} if check else "",
            snooze_url=self.url("snooze", task.id) if editable and not done else "",
            edit_url=self.url("edit", task.id) if editable and not done else "")

    def rows(self, tasks, refs: dict[int, TaskRefs] | None = None) -> list[TaskRow]:
        refs = refs or {}
        return [self.row(t, refs.get(t.id)) for t in tasks]


def timeline_context(me: User, args, *, company_id: int | None = None, project_id: int | None = None,
                     projects=(), scope=None) -> dict:
    """What templates/meetings/_timeline.html needs for a company's or a project's one timeline, as the request's
    `kind` and `before` arguments ask; `projects` are the company's projects the viewer may see (an item names its
    project only if it is one of them); `scope` the page's queries.OneScope, if it has one. The fixed words, the
    type labels and the link patterns are worked out here once, not per item."""
    from crm.projects import stages

    from . import queries
    from .ical import meeting_type_labels

    kinds = queries.parse_kinds(args.getlist("kind"))
    before = queries.parse_before(args.get("before"))
    on = "companies" if company_id is not None else "projects"
    return {"timeline": queries.timeline(me, company_id=company_id, project_id=project_id, kinds=kinds,
                                         before=before, scope=scope),
            "timeline_kinds": kinds, "timeline_chips": queries.kind_toggles(kinds),
            "timeline_paged": before is not None, "timeline_endpoint": f"{on}.timeline",
            "timeline_page": f"{on}.show",
            "timeline_ids": {"company_id": company_id} if company_id is not None else {"project_id": project_id},
            "stage_by_key": stages.BY_KEY, "timeline_projects": {p.id: p.name for p in projects},
            "type_labels": meeting_type_labels(),
            "timeline_urls": RowUrls(meeting=("meetings.show", "meeting_id"), project=("projects.show", "project_id")),
            # the items' fixed words ("%(name)s" and "%(due)s" are filled per item)
            "tl_text": {"task_for": _("task for %(name)s"), "system": _("system"), "scheduled": _("Scheduled"),
                        "people": _("With"), "next_step": _("Next step"), "done": _("Done"), "overdue": _("Overdue"),
                        "open": _("Open"), "due": _("Due %(due)s"), "from_meeting": _("from a meeting"),
                        "created": _("Created at"), "moved_back": _("moved back"), "reason": _("Reason"),
                        "contact": _("contact"), "funds_entry": _("funds entry"), "milestone": _("milestone"),
                        "request": _("enterprise request")}}
