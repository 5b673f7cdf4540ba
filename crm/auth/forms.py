"""Sign-in, password and profile forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class LoginForm(FlaskForm):
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField(_l("Keep me signed in on this device (14 days)"))
    next = HiddenField()


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])


class LocaleForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=[])


class UserForm(FlaskForm):
    version = HiddenField()
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), choices=[])
    team_id = SelectField(_l("Team"), choices=[], validators=[Optional()])
    department = SelectField(_l("Department (liaisons)"), choices=[], validators=[Optional()])
    locale = SelectField(_l("Language"), choices=[])
    active = BooleanField(_l("Active"), default=True)
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=1024)])


class TeamForm(FlaskForm):
    version = HiddenField()
    name = StringField(_l("Team name"), validators=[DataRequired(), Length(max=100)])


class RefItemForm(FlaskForm):
    version = HiddenField()
    key = StringField(_l("Key"), validators=[Optional(), Length(max=50)])
    name = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=100)])
    sort = IntegerField(_l("Order"), default=0, validators=[Optional()])
    active = BooleanField(_l("Offered for new records"), default=True)


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
