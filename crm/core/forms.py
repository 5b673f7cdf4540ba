"""WTForms glue: validators that apply the shared field rules, and copying service errors onto a form."""
from wtforms.validators import StopValidation

from crm.core.fields import Field, FieldError


class Rule:
    """A WTForms validator that applies one of the shared field rules (crm.core.fields), so the page shows the
    same message by the field that the API returns."""

    def __init__(self, rule: Field):
        self.rule = rule

    def __call__(self, form, field):
        try:
            self.rule.parse(field.data)
        except FieldError as exc:
            raise StopValidation(str(exc.args[0])) from None


def posted_int(value) -> int | None:
    """A whole number from a hidden field or button form (a version, an id), or None for anything else."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def apply_errors(form, fields: dict[str, list[str]], *, prefix_map: dict[str, str] | None = None) -> list[str]:
    """Put a service's per-field messages on the form's fields; return the messages no field took."""
    leftover = []
    for name, messages in fields.items():
        target = (prefix_map or {}).get(name, name)
        field = getattr(form, target, None)
        if field is not None and hasattr(field, "errors"):
            if not isinstance(field.errors, list):
                field.errors = list(field.errors)
            field.errors.extend(messages)
        else:
            leftover.extend(messages)
    return leftover


def submit(form, save) -> int | None:
    """Run a form's POST: validate it, then call `save()` (a service call).

    Returns None when saved (the view then redirects), or the status to re-render the form with: 200 for a GET,
    422 with messages by the fields (WTForms' or the service's), 409 with a flashed message for a stale version.
    """
    from flask import flash, request

    from crm.errors import Conflict, Invalid
    from crm.extensions import db

    if not form.validate_on_submit():
        return 422 if request.method == "POST" else 200
    try:
        save()
    except Invalid as exc:
        db.session.rollback()
        for message in apply_errors(form, exc.fields):
            flash(message, "danger")
        return 422
    except Conflict as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return 409
    return None
