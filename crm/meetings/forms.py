"""Meeting and task forms for the web pages (the API feeds the same services with JSON).

The forms only carry the values: the service checks them (a company the user may see, the end after the start,
contacts of that company, dues that are dates) and its per-field messages are put back on these fields.
"""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields import FieldList, FormField


class Marked:
    """Marks a field required on the page (the star); the service checks it and says so by the field."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        pass


class FollowUpRow(Form):
    """One follow-up row of the quick-log form (a plain Form: the meeting form carries the CSRF token)."""

    title = StringField(_l("Follow-up"))
    due_date = StringField(_l("Due"))
    due_time = StringField(_l("Time"))
    owner_id = SelectField(_l("Owner"), choices=[], validate_choice=False)

    def is_empty(self) -> bool:
        return not any((f.data or "").strip() for f in (self.title, self.due_date, self.due_time))


def due_text(date_value, time_value) -> str:
    """A date input and an optional time input as the service's `due`: "YYYY-MM-DD" or "YYYY-MM-DD HH:MM"."""
    date_value, time_value = (date_value or "").strip(), (time_value or "").strip()
    return f"{date_value} {time_value}".strip() if time_value else date_value


#: the form fields that go to services.create_meeting / update_meeting as they are
MEETING_FORM_FIELDS = ("type", "start_at", "end_at", "city", "place", "company_id", "project_id",
                       "participant_user_ids", "participant_contact_ids", "summary", "outcome", "next_step")


class MeetingForm(FlaskForm):
    version = HiddenField()
    next = HiddenField()
    type = RadioField(_l("Type"), choices=[], validate_choice=False, validators=[Marked()])
    start_at = StringField(_l("Start"), validators=[Marked()])
    end_at = StringField(_l("End"))
    city = StringField(_l("City"))
    place = StringField(_l("Place"))
    #: set by the company picker (search as you type); the service checks the user may see the company
    company_id = HiddenField(_l("Company"))
    company_q = StringField(_l("Company"), validators=[Marked()])
    project_id = SelectField(_l("Project"), choices=[], validate_choice=False)
    participant_user_ids = SelectMultipleField(_l("Colleagues"), choices=[], validate_choice=False)
    participant_contact_ids = SelectMultipleField(_l("Company contacts"), choices=[], validate_choice=False)
    summary = TextAreaField(_l("Summary"))
    outcome = TextAreaField(_l("Outcome"))
    next_step = TextAreaField(_l("Next step"))
    #: a manager (or an administrator) logs a meeting for another officer
    owner_id = SelectField(_l("Held by"), choices=[], validate_choice=False)


class QuickLogForm(MeetingForm):
    follow_ups = FieldList(FormField(FollowUpRow), min_entries=2, max_entries=40)


#: the form fields that go to services.create_task / update_task as they are
TASK_FORM_FIELDS = ("title", "owner_id", "company_id", "project_id", "notes")


class TaskForm(FlaskForm):
    version = HiddenField()
    next = HiddenField()
    meeting_id = HiddenField()
    title = StringField(_l("To do"), validators=[Marked()])
    due_date = StringField(_l("Due date"), validators=[Marked()])
    due_time = StringField(_l("Time (optional)"))
    owner_id = SelectField(_l("Owner"), choices=[], validate_choice=False)
    company_id = HiddenField(_l("Company"))
    company_q = StringField(_l("Company"))
    project_id = SelectField(_l("Project"), choices=[], validate_choice=False)
    notes = TextAreaField(_l("Notes"))
