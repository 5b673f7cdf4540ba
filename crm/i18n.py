"""Language and time zone per user: Simplified Chinese by default, English second."""
from flask import current_app, g, request
from flask_babel import get_locale, get_translations
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["CRM_LANGUAGES"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = request.cookies.get("lang") if request else None
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["CRM_TIMEZONE"]


def _translations():
    """The request's translations, looked up once per locale and request instead of once per `_()` (Flask-Babel
    walks the request context, the domain and the locale on every call: 5 to 20 µs, and a page of rows calls it
    hundreds of times). Keyed on the locale object Flask-Babel keeps for the request, so `force_locale()` (an e-mail
    in its reader's language) and `refresh()` still switch languages."""
    if not g:  # no app context: Flask-Babel's own answer (no translations)
        return get_translations()
    babel_context = g.get("_flask_babel")
    locale = getattr(babel_context, "babel_locale", None)
    cached = g.get("_crm_translations")
    if cached is not None and locale is not None and cached[0] is locale:
        return cached[1]
    locale = get_locale()
    translations = get_translations()
    g._crm_translations = (locale, translations)
    return translations


def gettext(string: str, **variables) -> str:
    """Flask-Babel's `gettext` through the per-request cache, for code that translates many words per request."""
    text = _translations().ugettext(string)
    return text % variables if variables else text


def install_template_gettext(app) -> None:
    """Replace the template gettext callables Flask-Babel installs with ones using the per-request cache."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
