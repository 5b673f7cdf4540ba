"""Spreadsheet import and export (issue 8): column specs, readers, preview, all-or-nothing commit, rollback."""
