"""Time: store UTC, compute 'today' and display in the zone's time zone."""
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CRM_TIMEZONE"])


def as_aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_zone(value: datetime) -> datetime:
    return as_aware(value).astimezone(zone())


def today_in_zone() -> date:
    return utcnow().astimezone(zone()).date()
