"""The Celery app, built from the Flask app so every task runs in its app context: `celery -A worker worker`."""
from celery.signals import worker_process_init

from crm import create_app
from crm.extensions import db

flask_app = create_app()
celery_app = app = flask_app.extensions["celery"]

from . import tasks  # noqa: E402,F401  (register the tasks and the beat schedule)

tasks.register_schedule(celery_app, flask_app.config["CRM_SWEEP_SECONDS"])


@worker_process_init.connect
def fresh_database_connections(**_kwargs) -> None:
    """In each forked pool process: drop the connection pool inherited from the parent (AV-5). Two processes talking
    over one PostgreSQL socket corrupt each other's conversation; a fork inherits the parent's pooled connections,
    so the child starts a pool of its own. `close=False` leaves the parent's connections open for the parent."""
    with flask_app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
