"""The reminder settings form: kinds to opt out of, and the digest time."""
import re
from datetime import time

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_clock(value: str | None) -> time | None:
    """ "HH:MM" (24 hours) as a time; empty is None (the zone's default); anything else raises ValueError."""
    text = (value or "").strip()
    if not text:
        return None
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return time(int(match.group(1)), int(match.group(2)))


def _clock(form, field):
    try:
        parse_clock(field.data)
    except ValueError:
        raise StopValidation(str(_l("Enter a time of day as HH:MM, e.g. 08:30."))) from None


class PreferencesForm(FlaskForm):
    # the service checks the kinds (its message goes by this field), so a stale or forged value gets the same answer
    # as from any other caller
    opted_out = SelectMultipleField(_l("Do not send me"), choices=[], validate_choice=False,
                                    widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    digest_time = StringField(_l("Daily digest time"), validators=[_clock],
                              render_kw={"placeholder": "08:30", "inputmode": "numeric", "maxlength": 5})
