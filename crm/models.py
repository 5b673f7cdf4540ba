"""Imports every model so SQLAlchemy's metadata (and Alembic) sees the whole schema."""
from crm.audit.models import AuditEvent  # noqa: F401
from crm.auth.models import LoginAttempt, Team, User, UserSession  # noqa: F401
from crm.companies.models import Company, Contact  # noqa: F401
from crm.dashboard.models import AnnualTarget, DashboardSnapshot  # noqa: F401
from crm.imports.models import ImportRecord, ImportRow, ImportRun  # noqa: F401
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task  # noqa: F401
from crm.notifications.models import Notification, NotificationOptOut, NotificationPreference  # noqa: F401
from crm.projects.models import FundsEntry, Project, SavedView, StageMove  # noqa: F401
from crm.reference.models import RefItem, Setting  # noqa: F401
from crm.support.models import EnterpriseRequest, Milestone, RequestEvent  # noqa: F401
