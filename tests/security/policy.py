"""Function-level authorization policy (AC-3): which role may call which role-gated endpoint.

This file is the reviewed statement of who may do what; tests/security/test_access.py holds the app to it. A change
of permissions shows up as a diff here. Keys are "METHOD endpoint" (Flask endpoint names); values map every role to
ALLOW or DENY. DENY means 403 with no side effect; ALLOW means the action succeeds (2xx or a redirect).

Endpoints that every signed-in staff member may call but that are scoped per record (company pages, contacts, the
API) are not listed here: the route walker of AC-1 holds them to 404 for records outside the user's scope.
Every endpoint of the admin blueprint must be listed (a test fails for a new admin route without an entry).
"""

ALLOW = "allow"
DENY = "deny"
ROLES = ("officer", "manager", "liaison", "admin")

ADMIN_ONLY = {"officer": DENY, "manager": DENY, "liaison": DENY, "admin": ALLOW}
MANAGERS = {"officer": DENY, "manager": ALLOW, "liaison": DENY, "admin": ALLOW}
STAFF = {"officer": ALLOW, "manager": ALLOW, "liaison": DENY, "admin": ALLOW}
EVERYONE = {"officer": ALLOW, "manager": ALLOW, "liaison": ALLOW, "admin": ALLOW}

POLICY: dict[str, dict[str, str]] = {
    # administration: users, teams, reference lists, settings, audit log, the scheduler's health
    "GET admin.index": ADMIN_ONLY,
    "GET admin.users": ADMIN_ONLY,
    "GET admin.new_user": ADMIN_ONLY,
    "POST admin.new_user": ADMIN_ONLY,
    "GET admin.edit_user": ADMIN_ONLY,
    "POST admin.edit_user": ADMIN_ONLY,
    "POST admin.reset_password": ADMIN_ONLY,
    "POST admin.terminate_sessions": ADMIN_ONLY,
    "GET admin.teams": ADMIN_ONLY,
    "POST admin.teams": ADMIN_ONLY,
    "POST admin.rename_team": ADMIN_ONLY,
    "GET admin.reference_list": ADMIN_ONLY,
    "POST admin.reference_list": ADMIN_ONLY,
    "GET admin.reference_item": ADMIN_ONLY,
    "POST admin.reference_item": ADMIN_ONLY,
    "GET admin.settings": ADMIN_ONLY,
    "POST admin.settings": ADMIN_ONLY,
    "GET admin.audit_log": ADMIN_ONLY,
    "GET admin.scheduler": ADMIN_ONLY,
    # a test e-mail through the configured server, to the admin who asks
    "POST admin.mail_test": ADMIN_ONLY,
    # the annual signed-investment targets the dashboard sets the year's signings against
    "GET admin.targets": ADMIN_ONLY,
    "POST admin.targets": ADMIN_ONLY,
    # manager-only actions on the company book: the trash, restore, reassign
    "GET companies.trash": MANAGERS,
    "POST companies.restore": MANAGERS,
    "POST companies.assign": MANAGERS,
    # the company book is for staff; department liaisons do not see it
    "GET companies.index": STAFF,
    "GET companies.create": STAFF,
    "POST companies.create": STAFF,
    "GET companies.export": STAFF,
    "GET companies.show": STAFF,
    "GET companies.check_duplicates": STAFF,
    "POST api.create_company": STAFF,
    # the pipeline is for staff: liaisons see no projects (each page answers 403); records are scoped per user
    # (the walker holds them to 404 outside the scope); only managers (and admins) hand a project to another officer
    "GET projects.index": STAFF,
    "GET projects.board": STAFF,
    "GET projects.board_column": STAFF,
    "GET projects.export": STAFF,
    "GET projects.company_options": STAFF,
    "GET projects.create": STAFF,
    "POST projects.create": STAFF,
    "GET projects.show": STAFF,
    "GET projects.edit": STAFF,
    "POST projects.edit": STAFF,
    "GET projects.stage": STAFF,
    "POST projects.stage": STAFF,
    "POST projects.move": STAFF,
    "POST projects.add_funds": STAFF,
    "POST projects.delete_funds": STAFF,
    "POST projects.delete": STAFF,
    "POST projects.bulk": STAFF,
    "POST projects.save_view": STAFF,
    "POST projects.delete_view": STAFF,
    "POST projects.reassign": MANAGERS,
    "POST api.create_project": STAFF,
    "POST api.reassign_project": MANAGERS,
    # the calendar and its feed settings are for staff; the feed itself (calendar.feed) takes no sign-in: its secret
    # token is the credential (tests/meetings/test_calendar.py)
    "GET calendar.index": STAFF,
    "GET calendar.feed_settings": STAFF,
    "POST calendar.feed_settings": STAFF,
    # meetings and tasks over the API: liaisons may log neither (403); records are scoped per user (the walker)
    "POST api.create_meeting": STAFF,
    "POST api.create_task": STAFF,
    # meeting and task pages are for staff (liaisons 403); records are scoped per user (the walker holds them to 404)
    "GET meetings.new": STAFF,
    "POST meetings.new": STAFF,
    "GET meetings.company_parts": STAFF,
    "GET meetings.show": STAFF,
    "GET meetings.edit": STAFF,
    "POST meetings.edit": STAFF,
    "POST meetings.delete": STAFF,
    "GET meetings.ics": STAFF,
    "GET meetings.tasks": STAFF,
    "GET meetings.index": STAFF,
    "GET meetings.new_task": STAFF,
    "POST meetings.new_task": STAFF,
    "GET meetings.edit_task": STAFF,
    "POST meetings.edit_task": STAFF,
    "POST meetings.task_done": STAFF,
    "POST meetings.task_reopen": STAFF,
    "POST meetings.task_snooze": STAFF,
    "POST meetings.task_delete": STAFF,
    # reminders (notifications) are staff pages (liaisons receive none: 403); an officer sees their own, a manager
    # everyone's (the walker holds another's to 404); only managers and admins send a failed one again
    "GET notifications.index": STAFF,
    "GET notifications.show": STAFF,
    "GET notifications.settings": STAFF,
    "GET notifications.digest_preview": STAFF,
    "POST notifications.settings": STAFF,
    "POST notifications.resend": MANAGERS,
    "GET api.list_notifications": STAFF,
    # the support board over the API: every role lists the requests and milestones it may see, a department liaison
    # their department's (the only API lists that show a liaison anything); the records themselves are scoped per
    # user (the walker holds them to 404, test_liaison_reads_nothing_outside_their_department_over_the_api the rest)
    "GET api.list_requests": EVERYONE,
    "GET api.list_milestones": EVERYONE,
    # the support board's wall chart (page, .xlsx, API) is for staff: a liaison answers for their department's
    # requests and milestones on the support pages, never sees the board
    "GET board.index": STAFF,
    "GET board.export": STAFF,
    "GET api.board": STAFF,
    # the managers' dashboard (page and API) is for staff, each figure in the viewer's scope (an officer's leave out
    # other teams' confidential projects: tests/dashboard); liaisons 403
    "GET dashboard.index": STAFF,
    "GET api.dashboard_pipeline": STAFF,
    # duplicate companies: the likely pairs, the compare page, merge and "not a duplicate" are for staff (liaisons
    # 403); who may merge which companies is decided per record (tests/companies/test_merge.py: an officer two
    # companies they may change, another team's is 404, a teammate's 403)
    "GET companies.duplicates": STAFF,
    "GET companies.compare_duplicates": STAFF,
    "POST companies.merge_duplicates": STAFF,
    "POST companies.not_duplicate": STAFF,
    "POST api.merge_company": STAFF,
    # the company's and the project's timeline as htmx fragments (filter chips, "show older"): like their pages
    "GET companies.timeline": STAFF,
    "GET projects.timeline": STAFF,
    # the owner's reason for a project's silence (the weekly report's no-update list): like the project's other
    # changes, whoever may change the project gives it (another team's officer 403: tests/reports)
    "POST projects.no_update_reason": STAFF,
    # reports (the weekly report, the monthly report, the dashboard's tables) are staff pages, each in the user's
    # scope (tests/reports); liaisons 403
    "GET reports.index": STAFF,
    "GET reports.weekly_xlsx": STAFF,
    "GET reports.monthly_page": STAFF,
    "GET reports.monthly_xlsx": STAFF,
    "GET reports.dashboard_xlsx": STAFF,
    # imports and exports (issue 8): staff upload files and export lists; an import's own pages belong to whoever
    # uploaded it (managers see every one), and the walker holds others' imports to 404
    "GET imports.index": STAFF,
    "POST imports.index": STAFF,
    "GET imports.template": STAFF,
    "GET imports.export": STAFF,
}


def allowed(key: str, role: str) -> bool:
    return POLICY[key][role] == ALLOW
