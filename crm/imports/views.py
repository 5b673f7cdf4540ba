"""Import pages: upload, header mapping, preview with problems and duplicate choices, commit, history with rollback,
templates per kind, and the export of any filtered list. Thin: every rule is in crm.imports.services."""
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from crm.auth import access
from crm.core.forms import posted_int
from crm.errors import Conflict, Invalid
from crm.extensions import db
from crm.web import signed_in_user, staff_only

from . import columns as cols
from . import exports, services
from .readers import MAX_BYTES, ReadError, open_table

bp = Blueprint("imports", __name__, url_prefix="/imports")
bp.before_request(login_required(staff_only))


@bp.before_request
def _upload_limit():
    """An upload may be larger than the app's usual request limit (CRM_IMPORT_MAX_BYTES, 50 MB by default); a
    larger one is a 413 before it is read (IE-5)."""
    if request.endpoint == "imports.index" and request.method == "POST":
        request.max_content_length = int(current_app.config.get("CRM_IMPORT_MAX_BYTES", MAX_BYTES)) + 64 * 1024


def _kinds():
    return [(k, cols.KIND_LABELS[k]) for k in cols.KINDS]


@bp.route("", methods=["GET", "POST"])
def index():
    """Upload a file (POST), and the import history with rollback (GET)."""
    me = signed_in_user()
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        kind = request.form.get("kind", "")
        if upload is None or not upload.filename:
            flash(_("Choose a file to upload."), "danger")
            status = 422
        elif kind not in cols.KINDS:
            flash(_("Choose what the file holds."), "danger")
            status = 422
        else:
            try:
                run = services.upload(upload.stream, upload.filename, kind=kind, actor=me,
                                      pool=request.form.get("pool") == "y")
            except Invalid as exc:
                db.session.rollback()
                flash(exc.message, "danger")
                status = 422
            else:
                return redirect(url_for("imports.show", import_id=run.id))
    return render_template("imports/index.html", runs=services.history(me), kinds=_kinds(),
                           is_manager=access.is_manager(me), me=me,
                           max_mb=int(current_app.config.get("CRM_IMPORT_MAX_BYTES", MAX_BYTES)) // (1024 * 1024)), \
        status


def _samples(run, n: int = 3) -> list[list]:
    """The first rows under the header, for the mapping page."""
    try:
        with open_table(str(services.stored_path(run)), run.filename, kind=run.kind,
                        sheet_name=run.sheet or None) as table:
            out = []
            for _number, cells in table.rows:
                out.append(cells)
                if len(out) >= n:
                    break
            return out
    except (ReadError, OSError):
        return []


@bp.route("/<int:import_id>")
def show(import_id: int):
    """The import's page for its state: the mapping, the progress, the preview, or the result."""
    me = signed_in_user()
    run = services.visible_import(import_id, me)
    context = {"run": run, "columns": cols.by_key(run.kind), "kind_label": cols.KIND_LABELS[run.kind],
               "mine": run.actor_id == me.id, "progress": services.read_progress(run)}
    if run.status == "uploaded" or request.args.get("step") == "mapping" and run.status == "previewed":
        return render_template("imports/mapping.html", samples=_samples(run), choices=cols.importable(run.kind),
                               missing=services.missing_columns(run.kind, run.mapping or {}), **context)
    if run.status in ("previewed", "committed", "rolled_back"):
        only = request.args.get("only", "")
        page = max(posted_int(request.args.get("page")) or 1, 1)
        rows, total = services.flagged_rows(run, page=page, only=only)
        can_rollback = run.status == "committed" and (run.actor_id == me.id or access.is_manager(me))
        return render_template("imports/preview.html", rows=rows, total=total, page=page, only=only,
                               pages=max((total + services.PAGE - 1) // services.PAGE, 1),
                               decisions=services.decisions(run), blocking=services.blocking_errors(run),
                               can_rollback=can_rollback, **context)
    return render_template("imports/progress_page.html", **context)


@bp.route("/<int:import_id>/progress")
def progress(import_id: int):
    """The progress bar (htmx polls it every second); when the phase is over the page reloads itself."""
    run = services.visible_import(import_id, signed_in_user())
    response = Response(render_template("imports/_progress.html", run=run, progress=services.read_progress(run)),
                        mimetype="text/html")
    if run.status not in ("previewing", "committing"):
        response.headers["HX-Refresh"] = "true"
    return response


def _go(run_id: int, phase: str):
    me = signed_in_user()
    try:
        services.start(run_id, phase, actor=me)
    except (Conflict, Invalid) as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return redirect(url_for("imports.show", import_id=run_id))
    outcome = services.launch(run_id, phase)
    if outcome == "committed":
        flash(_("Import committed."), "success")
    return redirect(url_for("imports.show", import_id=run_id))


@bp.route("/<int:import_id>/mapping", methods=["POST"])
def mapping(import_id: int):
    """Save the header mapping and preview the file with it."""
    me = signed_in_user()
    run = services.visible_import(import_id, me)
    chosen = {str(i): request.form.get(f"col{i}", "") for i in range(len(run.header or []))}
    try:
        services.set_mapping(run.id, chosen, actor=me)
    except (Conflict, Invalid) as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        for messages in exc.fields.values():
            for message in messages:
                flash(message, "danger")
        return redirect(url_for("imports.show", import_id=import_id))
    return _go(import_id, "preview")


@bp.route("/<int:import_id>/choices", methods=["POST"])
def choices(import_id: int):
    """Save the decisions for the flagged rows shown (choice-<row>), or one for every row of an action."""
    me = signed_in_user()
    services.visible_import(import_id, me)
    try:
        if request.form.get("all_action"):
            services.choose_all(import_id, request.form["all_action"], request.form.get("all_choice", ""),
                                actor=me)
        for key, value in request.form.items():
            if key.startswith("choice-") and key[7:].isdigit():
                services.choose(import_id, int(key[7:]), value, actor=me)
    except (Conflict, Invalid) as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        flash(_("Choices saved."), "success")
    if request.form.get("then") == "commit":
        return _go(import_id, "commit")
    return redirect(url_for("imports.show", import_id=import_id, only=request.form.get("only") or None,
                            page=posted_int(request.form.get("page")) or None))


@bp.route("/<int:import_id>/commit", methods=["POST"])
def commit(import_id: int):
    services.visible_import(import_id, signed_in_user())
    return _go(import_id, "commit")


@bp.route("/<int:import_id>/rollback", methods=["POST"])
def rollback(import_id: int):
    me = signed_in_user()
    try:
        services.rollback(import_id, actor=me)
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        flash(_("The import was rolled back."), "success")
    return redirect(url_for("imports.show", import_id=import_id))


@bp.route("/template/<kind>.xlsx")
def template(kind: str):
    """An empty sheet with the headers the import reads."""
    if kind not in cols.KINDS:
        abort(404)
    return exports.template(kind)


@bp.route("/export/<kind>.xlsx")
def export(kind: str):
    """Any filtered list as .xlsx (the list's own filters in the query string), in the import's columns."""
    if kind not in cols.EXPORT_KINDS:
        abort(404)
    return exports.export(kind, signed_in_user(), request.args,
                          query_string=request.query_string.decode(errors="replace"))


@bp.cli.command("clean")
def clean_command():
    """Delete the stored files of finished imports and of any older than a week (abandoned), and prune the
    export log; run daily (`flask --app wsgi imports clean`)."""
    import click

    from crm.extensions import db

    files, pruned = services.housekeep()
    db.session.commit()
    click.echo(f"Imports: {files} stored files deleted; {pruned} export log entries pruned.")
