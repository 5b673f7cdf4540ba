"""The investment-attraction CRM: the Flask application factory."""
import os

from flask import Flask, g, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from config import CONFIGS, DEV_SECRET_KEY, INSTANCE_DIR

from .extensions import babel, celery_init_app, csrf, db, login_manager, migrate


def create_app(config_name: str | None = None, **overrides) -> Flask:
    """Build the app: config → extensions → blueprints → CLI → error handlers."""
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), template_folder="../templates",
                static_folder="../static")
    config_name = config_name or os.environ.get("CRM_CONFIG", "development")
    app.config.from_object(CONFIGS[config_name])
    app.config.update(overrides)
    check_config(app, config_name)
    os.makedirs(app.instance_path, exist_ok=True)
    if app.config["CRM_PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["CRM_PROXY_COUNT"],
                                x_proto=app.config["CRM_PROXY_COUNT"])

    register_extensions(app)
    register_blueprints(app)
    register_commands(app)
    register_error_handlers(app)
    register_request_hooks(app)
    return app


def check_config(app: Flask, config_name: str) -> None:
    """Refuse to start production with debug on or the development secret (like Django's check --deploy)."""
    if config_name != "production":
        return
    if app.config.get("DEBUG") or app.debug:
        raise RuntimeError("DEBUG must be off in production.")
    if not app.config.get("SECRET_KEY") or app.config["SECRET_KEY"] == DEV_SECRET_KEY or \
            len(app.config["SECRET_KEY"]) < 32:
        raise RuntimeError("Set SECRET_KEY to a random value of at least 32 characters in production.")


def register_extensions(app: Flask) -> None:
    from . import models  # noqa: F401  (every model registered before migrations look at the metadata)
    from .core.database import configure_engine
    from .i18n import install_template_gettext, select_locale, select_timezone

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    install_template_gettext(app)
    login_manager.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    celery_init_app(app)

    from .auth.views import configure_login

    configure_login(app)


def register_blueprints(app: Flask) -> None:
    from .admin.views import bp as admin_bp
    from .api import bp as api_bp
    from .auth.views import bp as auth_bp
    from .companies.views import bp as companies_bp
    from .dashboard.views import bp as dashboard_bp
    from .home import bp as home_bp
    from .imports.views import bp as imports_bp
    from .meetings.calendar_views import bp as calendar_bp
    from .meetings.views import bp as meetings_bp
    from .notifications.views import bp as notifications_bp
    from .projects.views import bp as projects_bp
    from .reports.views import bp as reports_bp
    from .support.board_views import bp as board_bp
    from .support.views import bp as support_bp

    app.register_blueprint(home_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(companies_bp)
    app.register_blueprint(projects_bp)
    app.register_blueprint(meetings_bp)
    app.register_blueprint(calendar_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(support_bp)
    app.register_blueprint(board_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # the API takes bearer tokens only, never the browser's cookie


def register_commands(app: Flask) -> None:
    from .cli import crm_cli

    app.cli.add_command(crm_cli)


def register_error_handlers(app: Flask) -> None:
    from .web import register_errors

    register_errors(app)


def register_request_hooks(app: Flask) -> None:
    from .core.database import write_intent
    from .web import ids_in_range, security_headers, status_label, template_helpers

    @app.before_request
    def _mark_writers():
        # Requests that change state begin their SQLite transaction IMMEDIATE (see crm.core.database).
        g._write_token = write_intent.set(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_request
    def _unmark(_exc):
        token = g.pop("_write_token", None)
        if token is not None:
            write_intent.reset(token)

    app.url_value_preprocessor(ids_in_range)
    app.after_request(security_headers)
    app.context_processor(template_helpers)
    app.jinja_env.globals.update(current_user=current_user, status_label=status_label)
    app.jinja_env.filters["reject_keys"] = lambda mapping, *keys: {k: v for k, v in mapping.items() if k not in keys}
