"""The kanban board: one column per stage, cards moved by drag and drop (or a stage menu on a phone)."""
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from flask import abort, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from crm.audit.services import record_denied
from crm.auth import access
from crm.companies import queries as company_queries
from crm.core.forms import posted_int
from crm.core.timeutil import today_in_zone, utcnow
from crm.errors import Conflict, DomainError
from crm.extensions import db
from crm.reference import services as reference
from crm.web import id_url, signed_in_user

from . import queries, services, stages
from .views import bp, format_amount

#: from this many 万元 on, an amount reads in 亿元 (1 亿 = 10,000 万)
YI = Decimal(10000)
#: "show more" never pages deeper than this (an offset is a scan: past here the list page with filters is the tool)
MAX_OFFSET = 100_000


def money_label(amount) -> str:
    """An amount of 万元 as people read it: "8,500 万元", or "1.25 亿元" from 10,000 万元 on ("" when unknown)."""
    if amount is None:
        return ""
    amount = Decimal(amount)
    if abs(amount) >= YI:
        return _("%(amount)s × 100M yuan", amount=format_amount(amount / YI))
    return _("%(amount)s × 10k yuan", amount=format_amount(amount))


class CardContext:
    """What every card on a page needs, worked out once per request: today, the stale setting, which companies the
    viewer may see (else a confidential project shows its code name), the stage names and the link patterns."""

    def __init__(self, user, projects):
        self.user = user
        self.company_ids = queries.visible_company_ids(user, projects)
        self.stale_days = services.stale_days()
        self.now = utcnow()
        self.today = today_in_zone()
        self.stages = [(s.key, str(s.label)) for s in stages.STAGES]
        self.stage_names = dict(self.stages)
        self._show = id_url("projects.show", "project_id")
        self._stage = id_url("projects.stage", "project_id")
        # the cards' fixed words, translated once per page instead of once per card
        self.text = {"key": str(_("Key project")), "confidential": str(_("Confidential")), "owner": str(_("Owner")),
                     "days_title": str(_("Days in this stage")), "stale": str(_("Stale")),
                     "stale_title": str(_("No activity for %(n)d days or more", n=self.stale_days)),
                     "move_to": str(_("Move to…")), "go": str(_("Go"))}
        self._days: dict[int, str] = {}

    def days_label(self, project) -> str:
        days = self.days(project)
        if days not in self._days:
            self._days[days] = ngettext("%(num)d day", "%(num)d days", days)
        return self._days[days]

    def company(self, project) -> str:
        return queries.shown_name(project, self.company_ids)

    def stale(self, project) -> bool:
        return services.is_stale(project, now=self.now, days=self.stale_days)

    def days(self, project) -> int:
        return services.days_in_stage(project, today=self.today)

    def editable(self, project) -> bool:
        return access.can_edit_project(self.user, project)

    def show_url(self, project) -> str:
        return self._show.replace("{id}", str(project.id))

    def stage_url(self, project) -> str:
        return self._stage.replace("{id}", str(project.id))

    money = staticmethod(money_label)


def _more_url(f: queries.ProjectFilters, stage: str) -> str:
    """The next cards of one column (the filters' own stage, e.g. "open", only picks the columns: left out)."""
    return url_for("projects.board_column", stage=stage, **f.args(stage="", sort=queries.DEFAULT_SORT))


def _list_url(f: queries.ProjectFilters, stage: str) -> str:
    """One column as the project list, with the same filters (the column title's link, and "show more" without JS)."""
    return url_for("projects.index", **f.args(stage=stage, sort=queries.DEFAULT_SORT))


@bp.route("/projects/board")
def board():
    me = signed_in_user()
    f = queries.ProjectFilters.from_args(request.args)
    columns = queries.board(me, f)
    cards = CardContext(me, [p for column in columns for p in column.cards])
    filter_args = f.args(sort=queries.DEFAULT_SORT)
    return render_template(
        "projects/board.html", columns=columns, filters=f, cards=cards, filter_args=filter_args,
        filter_query=urlencode(filter_args), more_urls={c.stage.key: _more_url(f, c.stage.key) for c in columns},
        list_urls={c.stage.key: _list_url(f, c.stage.key) for c in columns},
        clusters=reference.choices("cluster"), parks=reference.choices("park"),
        officers=company_queries.officers(me), teams=queries.teams(), move_url=id_url("projects.move", "project_id"),
        total=sum(c.total for c in columns), count=sum(c.count for c in columns))


@bp.route("/projects/board/column")
def board_column():
    """The next cards of one column, for the "show more" button (htmx): the cards, and the button again (out of band)
    while more remain."""
    me = signed_in_user()
    stage = request.args.get("stage", "")
    if stage not in stages.BY_KEY:
        abort(404)
    f = queries.ProjectFilters.from_args(request.args)
    offset = min(posted_int(request.args.get("offset")) or 0, MAX_OFFSET)
    found = queries.column_cards(me, f, stage, offset=offset)
    count, _total = queries.column_total(me, f, stage)
    shown = offset + len(found)
    return render_template("projects/_column.html", more_cards=found, stage=stage, cards=CardContext(me, found),
                           left=max(0, count - shown), more_url=_more_url(f, stage), list_url=_list_url(f, stage))


# --- moving a card ----------------------------------------------------------------------------------------------------

def _board_filters(query: str) -> queries.ProjectFilters:
    """The board's filters, sent along with a move as its query string (for the columns' new totals)."""
    return queries.ProjectFilters.from_args(MultiDict(parse_qsl(query or "", keep_blank_values=False)[:30]))


def _columns(me, f: queries.ProjectFilters, keys) -> dict:
    out = {}
    for key in keys:
        if key in stages.BY_KEY and key not in out:
            n, total = queries.column_total(me, f, key)
            out[key] = {"count": n, "total_label": money_label(total)}
    return out


def _card_reply(status: int, me, project, f, keys, **extra):
    """The card as it is now (re-rendered) and the counts and totals of the columns it touched."""
    cards = CardContext(me, [project])
    html = render_template("projects/_card.html", p=project, cards=cards)
    body = {"ok": status == 200, "card_html": html, "project_id": project.id, "stage": project.stage,
            "stage_label": cards.stage_names.get(project.stage, project.stage), "version": project.version,
            "columns": _columns(me, f, [*keys, project.stage]), **extra}
    return jsonify(body), status


def _message(err: DomainError) -> str:
    """One line for the board's alert: the field messages when there are any (e.g. "Say why the project was lost.")."""
    messages = [m for ms in err.fields.values() for m in ms]
    return " ".join(messages) or err.message


@bp.route("/projects/<int:project_id>/move", methods=["POST"])
def move(project_id: int):
    """Move a card (drag and drop, or the card's stage menu): JSON for board.js.

    200 with the re-rendered card and the two columns' new counts and totals; 409 when someone else changed the project
    since the board was read, with the card as it is now so the board shows it in its real column; 422, 403, 404 with
    a message, nothing changed."""
    me = signed_in_user()
    form = request.form
    to_stage, from_stage = form.get("stage", ""), form.get("from_stage", "")
    version = posted_int(form.get("version"))
    f = _board_filters(form.get("filters", ""))
    try:
        project = services.move_stage(project_id, to_stage, actor=me, version=version, note=form.get("note", ""),
                                      reason=form.get("reason", ""))
    except DomainError as err:
        db.session.rollback()
        # the service checks the version before the move's own rules: a stale card is always a Conflict
        current = queries.board_card(me, project_id) if isinstance(err, Conflict) else None
        if current is not None:
            # show the project as it is now, in its real column
            message = _("Someone else changed this project meanwhile: the card now shows it as it is (%(stage)s). "
                        "Your move was not saved.", stage=stages.BY_KEY[current.stage].label)
            return _card_reply(409, me, current, f, [from_stage, to_stage],
                               error={"code": "conflict", "message": message, "fields": {}})
        if err.status in (403, 404):
            record_denied(me.id, status=err.status, path=request.path)
        return jsonify({"ok": False, "project_id": project_id, "error": {
            "code": err.code, "message": _message(err), "fields": err.fields}}), err.status
    card = queries.board_card(me, project.id)
    return _card_reply(200, me, card, f, [from_stage, to_stage])
