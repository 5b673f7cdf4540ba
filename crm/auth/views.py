"""Sign-in, sign-out, the user's own profile (language, password)."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_fresh, login_required, login_user, logout_user

from crm.errors import Invalid, Throttled
from crm.extensions import login_manager
from crm.web import safe_next

from . import services
from .forms import LocaleForm, LoginForm, PasswordForm

bp = Blueprint("auth", __name__)


def configure_login(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.refresh_view = "auth.login"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load(token: str):
        return services.load_session(token, kind="web")


def current_token() -> str | None:
    return getattr(current_user, "current_session_token", None)


@bp.route("/login", methods=["GET", "POST"])
def login():
    # A session restored from the remember cookie is not fresh: it may sign in again here (fresh_login_required);
    # so may one sent here to sign in again before a sensitive action (?reauth=1, a mass export), and the form's post.
    if current_user.is_authenticated and login_fresh() and request.method == "GET" and not request.args.get("reauth"):
        return redirect(url_for("home.index"))
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data, ip=request.remote_addr or "")
        except Throttled as exc:
            form.password.errors.append(exc.message)
            status = 429
        except Invalid as exc:
            form.password.errors.append(exc.message)
            status = 401
        else:
            target = safe_next(form.next.data)
            services.end_session(current_token())  # the stale session this sign-in replaces, if any
            session.clear()  # a new session at sign-in (SA-3): nothing from before carries over
            services.start_session(user, remember=form.remember.data, ip=request.remote_addr,
                                   user_agent=request.user_agent.string)
            login_user(user, remember=form.remember.data)
            return redirect(target or url_for("home.index"))
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    services.end_session(current_token(), actor=current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    pw_form = PasswordForm(prefix="pw")
    loc_form = LocaleForm(prefix="loc", locale=current_user.locale)
    loc_form.locale.choices = list(current_app.config["CRM_LANGUAGES"].items())
    status = 200
    if request.method == "POST" and request.form.get("action") == "password" and pw_form.validate():
        try:
            services.change_password(current_user._get_current_object(), pw_form.current.data, pw_form.new.data,
                                     keep_token=current_token())
        except Invalid as exc:
            for field, msgs in exc.fields.items():
                getattr(pw_form, field).errors.extend(msgs)
            status = 422
        else:
            flash(_("Password changed. Your other sessions were signed out."), "success")
            return redirect(url_for("auth.profile"))
    elif request.method == "POST" and request.form.get("action") == "locale" and loc_form.validate():
        services.set_locale(current_user._get_current_object(), loc_form.locale.data)
        return redirect(url_for("auth.profile"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/profile.html", pw_form=pw_form, loc_form=loc_form), status


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    """Switch language; for anonymous visitors a cookie, for users their profile."""
    target = safe_next(request.form.get("next")) or url_for("home.index")
    response = redirect(target)
    if code in current_app.config["CRM_LANGUAGES"]:
        if current_user.is_authenticated:
            services.set_locale(current_user._get_current_object(), code)
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response
