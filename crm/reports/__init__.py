"""Reports managers file and read (issue 7, point 3): the weekly project report (周报, weekly.py), the monthly report
(monthly.py) and the dashboard's tables as .xlsx (dashboard.py); the workbooks' shared layout is in workbook.py.

Every report is built for one viewer and holds only what that viewer may see (`access.project_scope` and the other
scopes of R3): the same report downloaded by an officer is the officer's view of it. The .xlsx files are the bureau's
forms: Chinese headers and the zone's language (BABEL_DEFAULT_LOCALE) for stages, clusters and parks, whatever the
reader's UI language; the pages and e-mails around them speak the reader's language.
"""
