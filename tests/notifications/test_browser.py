"""In real Chromium: a reminder's e-mail text and today's digest preview are readable (dark text on a light box,
on a desktop and on a phone); Tabler's own `pre` is light text made for a dark code block."""
from datetime import timedelta
from types import SimpleNamespace

import pytest

from crm.core.timeutil import to_zone, utcnow
from crm.extensions import db
from crm.notifications.models import SENT, Notification

from ..e2e.conftest import ARTIFACTS
from ..e2e.test_company_flow import sign_in
from ..factories import make_user
from .helpers import make_task

pytestmark = pytest.mark.browser

CONTRAST = """el => {
  // colours as the page paints them (Tabler writes oklch() and light-dark()): through a canvas pixel
  const ctx = Object.assign(document.createElement("canvas"), {width: 1, height: 1}).getContext("2d");
  const rgba = css => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = css; ctx.fillRect(0, 0, 1, 1);
                        return Array.from(ctx.getImageData(0, 0, 1, 1).data); };
  let node = el, back = rgba(getComputedStyle(node).backgroundColor);
  while (back[3] === 0 && node.parentElement) {
    node = node.parentElement;
    back = rgba(getComputedStyle(node).backgroundColor);
  }
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(linear); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const [a, b] = [lum(rgba(getComputedStyle(el).color)), lum(back)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def test_the_e_mail_text_and_the_digest_preview_are_readable(live_server, page_factory):
    officer = make_user(locale="en")
    make_task(officer, to_zone(utcnow()).date() - timedelta(days=1), title="Call the land bureau")
    row = Notification(kind="digest", recipient_id=officer.id, object_type="user", object_id=officer.id,
                       period="2026-11-28", key="digest/browser", status=SENT, attempts=1, possible_duplicate=False,
                       subject="Daily digest", body_text="Hello,\n\nOverdue (1)\n- Call the land bureau",
                       body_html="<p>Hello</p>", sent_at=utcnow())
    db.session.add(row)
    db.session.commit()
    user, row_id = SimpleNamespace(email=officer.email), row.id
    db.session.rollback()
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height, name in ((1366, 900, "desktop"), (390, 844, "phone")):
        page = page_factory(width=width, height=height)
        sign_in(page, live_server, user)
        for path, shot in ((f"/notifications/{row_id}", "sent"), ("/notifications/digest-preview", "preview")):
            page.goto(live_server + path)
            text = page.locator("pre.mail-text")
            assert "Call the land bureau" in text.inner_text()
            assert text.evaluate(CONTRAST) >= 7, f"{path} on a {name}: the e-mail's text is hard to read"
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(ARTIFACTS / f"notifications-{shot}-{name}.png"), full_page=True)
