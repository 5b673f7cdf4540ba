"""Language and time zone per user: Simplified Chinese by default, English second."""
from flask import current_app, request
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["CRM_LANGUAGES"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = request.cookies.get("lang") if request else None
    return chosen if chosen in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["CRM_TIMEZONE"]
