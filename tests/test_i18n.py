"""Translations: the Simplified Chinese catalogue is complete and consistent, compiled, and used by the pages.

The UI is Simplified Chinese by default and English second: anonymous visitors choose with the `lang` cookie
(POST /lang/<code>), signed-in users with their profile's locale.
"""
import os
import re
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from crm import create_app
from crm.extensions import db

from .factories import login, make_user

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "crm" / "translations"
POT = TRANSLATIONS / "messages.pot"
PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")

#: printf-style placeholders as gettext and Flask-Babel use them: %(name)s, %(n)d, and a literal %%
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([sdifr%])")


def read_catalog(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def placeholders(text: str) -> list[tuple[str, str]]:
    return sorted(PLACEHOLDER.findall(text))


def entries():
    return [m for m in read_catalog(PO) if m.id]


@pytest.fixture(scope="module", autouse=True)
def compiled_catalog(app):
    """Compile the .po into the app's translations directory if `make` has not (or the .mo is stale)."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        tmp = MO.with_name(f"messages.{os.getpid()}.mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, read_catalog(PO))
        os.replace(tmp, MO)
        with app.app_context():
            # an earlier request may have cached an empty catalogue for this process
            from crm.extensions import babel

            babel.domain_instance.cache.clear()
    return MO


@pytest.fixture(scope="module")
def web(app):
    """An app instance of its own on the test database.

    conftest keeps the session app's context pushed during a test and a request reuses a pushed context of its own
    app, so Flask-Babel's chosen locale (and Flask-Login's user) cached in `g` would carry over from one request to
    the next. A separate instance gets a fresh context per request, as in production.
    """
    other = create_app("test", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def client(web):
    return web.test_client()


# --- the catalogue -------------------------------------------------------------------------------------------------


def test_every_message_is_translated():
    messages = entries()
    assert len(messages) > 250
    untranslated = [m.id for m in messages if not (m.string if isinstance(m.string, str) else all(m.string))]
    assert untranslated == []
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert fuzzy == []


def _forms(value) -> list[str]:
    """A message's text, or each form of a plural message (Chinese has one plural form)."""
    return [value] if isinstance(value, str) else [v for v in value if v]


def test_translations_keep_the_placeholders():
    wrong = {m.id: m.string for m in entries()
             if any(placeholders(s) != placeholders(i) for i in _forms(m.id) for s in _forms(m.string))}
    assert wrong == {}
    # and Babel's own python-format checker agrees
    assert list(read_catalog(PO).check()) == []


def test_the_catalogue_is_in_step_with_the_template():
    """Every string extracted into messages.pot is in the Chinese catalogue (run `make extract-messages`)."""
    extracted = {m.id for m in read_catalog(POT) if m.id}
    translated = {m.id for m in entries()}
    assert extracted - translated == set()


def test_translations_use_the_domain_terms():
    zh = {m.id: m.string for m in entries()}
    assert zh["Public pool"] == "公海"
    assert zh["Claim"] == "认领"
    assert zh["Release to pool"] == "退回公海"
    assert zh["Unified social credit code"] == "统一社会信用代码"
    assert zh["Revenue (10,000 yuan)"] == "营业收入（万元）"
    assert zh["Officer"] == "招商专员"
    assert zh["Audit log"] == "操作日志"
    # Chinese sentences end with full-width punctuation
    sentences = [s for i, string in zh.items() for s in _forms(string)
                 if _forms(i)[0].endswith(".") and not _forms(i)[0].endswith("...")]
    assert sentences and all(s.endswith("。") for s in sentences), [s for s in sentences if not s.endswith("。")]


def test_the_compiled_catalogue_translates(compiled_catalog):
    translations = Translations.load(str(TRANSLATIONS), ["zh_Hans_CN"])
    assert translations.gettext("Sign in") == "登录"
    assert translations.gettext("Companies") == "企业"
    assert translations.gettext("%(n)d sessions ended.") % {"n": 3} == "已结束 3 个会话。"


# --- the pages -----------------------------------------------------------------------------------------------------


def test_login_page_is_chinese_by_default_and_english_on_request(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in page
    assert "登录您的账号" in page and ">登录</button>" in page
    assert "Sign in to your account" not in page

    switched = client.post("/lang/en", data={"next": "/login"})
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/login")
    page = client.get("/login").get_data(as_text=True)
    assert 'lang="en"' in page
    assert "Sign in to your account" in page and ">Sign in</button>" in page
    assert "登录您的账号" not in page

    client.post("/lang/zh_Hans_CN", data={"next": "/login"})
    assert "登录您的账号" in client.get("/login").get_data(as_text=True)


def test_unknown_language_is_ignored(client):
    client.post("/lang/fr", data={"next": "/login"})
    page = client.get("/login").get_data(as_text=True)
    assert "登录您的账号" in page


def test_signed_in_user_sees_their_language(web):
    english, chinese = make_user(locale="en"), make_user(locale="zh_Hans_CN")
    en_client, zh_client = web.test_client(), web.test_client()
    assert login(en_client, english).status_code == 302
    assert login(zh_client, chinese).status_code == 302

    page = en_client.get("/").get_data(as_text=True)
    assert ">Companies</a>" in page and ">Public pool</a>" in page and "Sign out" in page
    assert ">企业</a>" not in page

    page = zh_client.get("/").get_data(as_text=True)
    assert ">企业</a>" in page and ">公海</a>" in page and "退出登录" in page
    assert ">Companies</a>" not in page


def test_the_profile_language_beats_the_cookie_and_switching_saves_it(client):
    from crm.auth.models import User

    user = make_user(locale="zh_Hans_CN")
    client.set_cookie("lang", "en")
    assert login(client, user).status_code == 302
    assert ">企业</a>" in client.get("/").get_data(as_text=True)

    assert client.post("/lang/en", data={"next": "/"}).status_code == 302
    db.session.rollback()  # end this session's read snapshot: the request wrote through another connection
    assert db.session.get(User, user.id).locale == "en"
    assert ">Companies</a>" in client.get("/").get_data(as_text=True)
