"""Project forms for the web pages (the API feeds the same services with JSON).

The forms only carry the values: the service checks them (amounts, dates in order, the company the user may see)
and its per-field messages are put back on these fields, so the page and the API say the same thing.
"""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import Length


class Marked:
    """Marks a field required on the page (the star); the service checks it and says so by the field."""

    field_flags = {"required": True}

    def __call__(self, form, field):
        pass


#: the form fields that go to services.create_project / update_project as they are
PROJECT_FORM_FIELDS = ("company_id", "name", "cluster", "park", "planned_investment", "fixed_asset_investment",
                       "expected_output", "expected_tax", "jobs", "land_mu", "description", "source", "key_project",
                       "confidential", "code_name", "planned_start", "planned_production", "notes")


class ProjectForm(FlaskForm):
    version = HiddenField()
    #: set by the company picker (search as you type); the service checks the user may see the company
    company_id = HiddenField(_l("Company"))
    company_q = StringField(_l("Company"), validators=[Marked()])
    name = StringField(_l("Project name"), validators=[Marked(), Length(max=200)])
    cluster = SelectField(_l("Industry cluster"), choices=[], validate_choice=False)
    park = SelectField(_l("Park"), choices=[], validate_choice=False)
    planned_investment = StringField(_l("Planned investment"))
    fixed_asset_investment = StringField(_l("Fixed-asset investment"))
    expected_output = StringField(_l("Expected annual output"))
    expected_tax = StringField(_l("Expected annual tax"))
    jobs = StringField(_l("Jobs"))
    land_mu = StringField(_l("Land (mu)"))
    description = TextAreaField(_l("Project content"))
    source = SelectField(_l("Source"), choices=[], validate_choice=False)
    key_project = BooleanField(_l("Key project"))
    confidential = BooleanField(_l("Confidential: only the owner, the owner's team and managers see it"))
    code_name = StringField(_l("Code name"))
    planned_start = StringField(_l("Planned construction start"))
    planned_production = StringField(_l("Planned production start"))
    notes = TextAreaField(_l("Notes"))
    first_contact_id = SelectField(_l("First contact"), choices=[], validate_choice=False)


class NewProjectForm(ProjectForm):
    new_company = BooleanField(_l("The company is not in the CRM yet: create it"))
    #: checked by the service with the project (errors named company.name / company.uscc)
    new_company_name = StringField(_l("New company's name"), validators=[Marked()])
    new_company_uscc = StringField(_l("Unified social credit code"))
    stage = SelectField(_l("Stage"), choices=[], validate_choice=False, default="lead")
    lost_reason = TextAreaField(_l("Why was it lost?"))
    owner_id = SelectField(_l("Owner"), choices=[], validate_choice=False)


class StageForm(FlaskForm):
    version = HiddenField()
    stage = SelectField(_l("Move to"), choices=[], validate_choice=False)
    note = TextAreaField(_l("Note"))
    reason = TextAreaField(_l("Why was it lost?"))
    date = StringField(_l("Date of the move"))
    #: set by the stand-alone stage page, so its errors are shown there
    standalone = HiddenField()


class FundsForm(FlaskForm):
    received_on = StringField(_l("Received on"), validators=[Marked()])
    amount = StringField(_l("Amount"), validators=[Marked()])
    note = StringField(_l("Note"), validators=[Length(max=300)])


class ReassignForm(FlaskForm):
    version = HiddenField()
    owner_id = SelectField(_l("New owner"), choices=[], validate_choice=False)


class SaveViewForm(FlaskForm):
    name = StringField(_l("View name"), validators=[Length(max=60)])
    query = HiddenField()
