"""The calendar: week and month views of meetings and due tasks (me, my team, an officer), the private calendar
feed's settings, and the feed itself (opened by calendar apps with the secret token, no sign-in)."""
from flask import Blueprint

bp = Blueprint("calendar", __name__)
