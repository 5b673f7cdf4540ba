"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
from crm import create_app

app = create_app()
