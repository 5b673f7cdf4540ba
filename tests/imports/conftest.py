"""The import tests read the services' messages in English (the catalogue translates them for Chinese users; the
pages' tests sign in users of either language)."""
import pytest
from flask_babel import force_locale


@pytest.fixture(autouse=True)
def english_messages(request):
    if request.node.get_closest_marker("browser") or "app" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("app")
    with force_locale("en"):
        yield
