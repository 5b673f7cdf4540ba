"""The Celery app, built from the Flask app so every task runs in its app context: `celery -A worker worker`."""
from crm import create_app

flask_app = create_app()
celery_app = app = flask_app.extensions["celery"]

from . import tasks  # noqa: E402,F401  (register the tasks and the beat schedule)

tasks.register_schedule(celery_app)
