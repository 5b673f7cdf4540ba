"""Reference lists and settings: read by every form and the API's /meta, edited by admins."""
from flask import g, has_app_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.audit import services as audit
from crm.auth.access import require_role
from crm.auth.models import Role
from crm.core.text import clean_text
from crm.errors import Conflict, Invalid, NotFound
from crm.extensions import db

from .models import REFERENCE_KINDS, RefItem, Setting

#: settings with their defaults and bounds; values outside the bounds are refused
SETTINGS = {
    #: 客户保护期: days an officer holds a claimed prospect before it may return to the public pool
    "protection_days": {"default": 90, "min": 7, "max": 730},
    #: a project with no activity for this many days is marked stale on the board and the list
    "stale_days": {"default": 30, "min": 3, "max": 365},
    #: a support-board milestone due within this many days (and not done) shows yellow
    "milestone_warning_days": {"default": 7, "min": 1, "max": 90},
    #: a follow-up overdue by this many days is escalated to the managers (the "escalation" reminder)
    "escalation_days": {"default": 3, "min": 1, "max": 90},
}


def items(kind: str, *, include_inactive: bool = False) -> list[RefItem]:
    """A reference list, read once per request (a page asks for the same list for its filters and its rows)."""
    cache = g.setdefault("_reference_items", {}) if has_app_context() else {}
    if kind not in cache:
        stmt = select(RefItem).where(RefItem.kind == kind).order_by(RefItem.sort, RefItem.id)
        cache[kind] = list(db.session.scalars(stmt))
    rows = cache[kind]
    return rows if include_inactive else [i for i in rows if i.active]


def label(item: RefItem) -> str:
    """The item's name in the current UI language."""
    locale = str(get_locale() or "zh")
    return item.name_en if locale.startswith("en") and item.name_en else item.name


def choices(kind: str, *, blank: str | None = None) -> list[tuple[str, str]]:
    out = [(i.key, label(i)) for i in items(kind)]
    return ([("", blank)] if blank is not None else []) + out


def names(kind: str) -> dict[str, str]:
    """key → label for every item of a kind, active or not (for displaying stored keys)."""
    return {i.key: label(i) for i in items(kind, include_inactive=True)}


def valid_keys(kind: str) -> set[str]:
    return {i.key for i in items(kind)}


def check_key(errors: dict, field: str, kind: str, value: str | None, *, current: str | None = None) -> None:
    """Add an error when `value` is not an active key of `kind` (a record's existing key stays valid)."""
    if value and value != current and value not in valid_keys(kind):
        errors.setdefault(field, []).append(str(_l("Choose a value from the list.")))


def meta_items(kind: str) -> list[dict]:
    return [{"key": i.key, "name": i.name, "name_en": i.name_en} for i in items(kind)]


def save_item(kind: str, key: str, name: str, name_en: str, *, actor, sort: int = 0, active: bool = True,
              item_id: int | None = None, version: int | None = None) -> RefItem:
    """Create or edit a reference item; keys are fixed once created, since records hold them."""
    require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    errors: dict[str, list[str]] = {}
    if kind not in REFERENCE_KINDS:
        raise NotFound(str(_l("No such reference list.")))
    key = (key or "").strip().lower()
    name, name_en = clean_text(name, 100), clean_text(name_en, 100)
    if item_id is None:
        if not key or len(key) > 50 or not all(c.isalnum() or c in "_-" for c in key) or not key.isascii():
            errors["key"] = [str(_l("Use 1–50 lower-case letters, digits, - or _."))]
        elif db.session.scalar(select(RefItem.id).where(RefItem.kind == kind, RefItem.key == key)):
            errors["key"] = [str(_l("This key exists already."))]
    if not name or len(name) > 100:
        errors["name"] = [str(_l("Enter a name of at most 100 characters."))]
    if len(name_en) > 100:
        errors["name_en"] = [str(_l("At most %(n)d characters.", n=100))]
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    if item_id is None:
        item = RefItem(kind=kind, key=key)
        db.session.add(item)
    else:
        item = db.session.get(RefItem, item_id)
        if item is None or item.kind != kind:
            raise NotFound(str(_l("No such item.")))
        if version is not None and item.version != version:
            raise Conflict(str(_l("This item was changed by someone else; reload and try again.")))
    item.name, item.name_en, item.sort, item.active = name, name_en, sort, active
    db.session.commit()
    g.pop("_reference_items", None)
    return item


def get_setting(key: str):
    row = db.session.get(Setting, key)
    return row.value if row is not None else SETTINGS[key]["default"]


def set_setting(key: str, value, *, actor) -> None:
    set_settings({key: value}, actor=actor)


def set_settings(values: dict, *, actor) -> None:
    """Save settings; every value is checked first, so a bad one leaves all of them unchanged."""
    require_role(actor, Role.ADMIN)
    audit.set_actor(actor)
    numbers, errors = {}, {}
    for key, value in values.items():
        spec = SETTINGS.get(key)
        if spec is None:
            raise NotFound(str(_l("No such setting.")))
        try:
            number = int(str(value).strip())
        except (TypeError, ValueError):
            errors[key] = [str(_l("Enter a whole number."))]
            continue
        if not spec["min"] <= number <= spec["max"]:
            errors[key] = [str(_l("Enter a number from %(lo)d to %(hi)d.", lo=spec["min"], hi=spec["max"]))]
            continue
        numbers[key] = number
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    for key, number in numbers.items():
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=number))
        else:
            row.value = number
    db.session.commit()
