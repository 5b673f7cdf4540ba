"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
import gc

from crm import create_app

app = create_app()
# what the app built at start (routes, templates, the models' metadata) lives as long as the process: moved out of
# the garbage collector's generations, a collection during a request no longer walks it
gc.freeze()
