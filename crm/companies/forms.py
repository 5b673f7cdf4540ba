"""Company and contact forms for the web pages (the API feeds the same services with JSON)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from crm.core.forms import Rule

from .services import COMPANY_FIELDS, CONTACT_FIELDS


class CompanyForm(FlaskForm):
    version = HiddenField()
    name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    short_name = StringField(_l("Short name"), validators=[Length(max=100)])
    uscc = StringField(_l("Unified social credit code"), validators=[Optional()])
    legacy_uscc = BooleanField(_l("Accept a legacy code whose check character fails (managers; recorded in the log)"))
    cluster = SelectField(_l("Industry cluster"), choices=[], validate_choice=False)
    origin_city = SelectField(_l("Origin city"), choices=[], validate_choice=False)
    address = StringField(_l("Address"), validators=[Length(max=300)])
    chain_tags = StringField(_l("Chain segments (comma-separated)"), validators=[Rule(COMPANY_FIELDS["chain_tags"])])
    employees = IntegerField(_l("Employees"), validators=[Optional(), NumberRange(min=0, max=10_000_000)])
    revenue = DecimalField(_l("Revenue (10,000 yuan)"), places=2,
                           validators=[Optional(), NumberRange(min=0, max=999_999_999_999)])
    listing_status = SelectField(_l("Listing"), choices=[
        ("none", _l("Not listed")), ("preparing", _l("Preparing to list")), ("listed", _l("Listed"))])
    hmt_funded = BooleanField(_l("Hong Kong, Macao or Taiwan funded"))
    source = SelectField(_l("Source"), choices=[], validate_choice=False)
    status = SelectField(_l("Status"), choices=[
        ("prospect", _l("Prospect")), ("resident", _l("Resident")), ("inactive", _l("Inactive"))])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=5000)])

    def validate_uscc(self, field):
        # the shared USCC rule, unless a manager accepts a legacy code (the service checks who may)
        if field.data and not self.legacy_uscc.data:
            Rule(COMPANY_FIELDS["uscc"])(self, field)


class NewCompanyForm(CompanyForm):
    contact_name = StringField(_l("Contact name"), validators=[Length(max=100)])
    contact_title = StringField(_l("Title"), validators=[Length(max=100)])
    contact_mobile = StringField(_l("Mobile"), validators=[Optional(), Rule(CONTACT_FIELDS["mobile"])])
    contact_email = StringField(_l("E-mail"), validators=[Optional(), Rule(CONTACT_FIELDS["email"])])
    owner_id = SelectField(_l("Held by"), choices=[], validate_choice=False)
    public_pool = BooleanField(_l("Put it in the public pool instead of holding it"))
    allow_duplicate = BooleanField(_l("I checked the look-alikes above: create it anyway"))


class ContactForm(FlaskForm):
    version = HiddenField()
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    title = StringField(_l("Title"), validators=[Length(max=100)])
    mobile = StringField(_l("Mobile or phone"), validators=[Optional(), Rule(CONTACT_FIELDS["mobile"])])
    email = StringField(_l("E-mail"), validators=[Optional(), Rule(CONTACT_FIELDS["email"])])
    wechat = StringField(_l("WeChat"), validators=[Length(max=100)])
    notes = TextAreaField(_l("Notes"), validators=[Length(max=2000)])


class AssignForm(FlaskForm):
    version = HiddenField()
    owner_id = SelectField(_l("Officer"), choices=[], validate_choice=False)


class VersionForm(FlaskForm):
    """A bare form for POST buttons (delete, claim, release): CSRF and the version read."""

    version = HiddenField()


COMPANY_FORM_FIELDS = [name for name in COMPANY_FIELDS]
CONTACT_FORM_FIELDS = [name for name in CONTACT_FIELDS]
