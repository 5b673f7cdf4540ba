"""The support board's forms (the API feeds the same services with JSON). They carry the values only: the services
check them and their per-field messages are put back on these fields."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField


class MilestoneForm(FlaskForm):
    planned_date = StringField(_l("Planned date"))
    actual_date = StringField(_l("Actual date"))
    department = SelectField(_l("Responsible department"), choices=[], validate_choice=False)
    owner_id = SelectField(_l("Responsible person"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note"))
    version = HiddenField()


class RequestForm(FlaskForm):
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    description = TextAreaField(_l("What the company needs"))
    department = SelectField(_l("Routed to department"), choices=[], validate_choice=False)
    owner_id = SelectField(_l("Owner"), choices=[], validate_choice=False)
    deadline = StringField(_l("Deadline (a date)"))
    working_days = StringField(_l("or within working days"))
    note = TextAreaField(_l("Note"))
    version = HiddenField()


class StatusForm(FlaskForm):
    status = HiddenField()
    version = HiddenField()
    resolution = TextAreaField(_l("Resolution"))
    satisfaction = SelectField(_l("Company's satisfaction"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note"))
