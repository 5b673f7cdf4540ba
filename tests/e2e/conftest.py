"""The browser tests' constants; their fixtures (a live server, headless Chromium, pages) are in tests/conftest.py,
shared by every folder that has browser tests (e2e, the support board), so one Chromium serves the whole session."""
from ..conftest import ARTIFACTS, CHROMIUM_ARGS  # noqa: F401  (imported from here by the browser tests)
