"""The weekly report by e-mail: found on Fridays from 17:00 (zone time), once per manager per ISO week, sent once
through a real SMTP server (aiosmtpd) with the report attached as an .xlsx that openpyxl reads back."""
import io
from datetime import timedelta

import time_machine
from openpyxl import load_workbook

from crm.core.database import writing
from crm.extensions import db
from crm.notifications import services
from crm.notifications.models import SENT, SKIPPED
from crm.notifications.services import set_preferences

from ..factories import make_user
from ..notifications.helpers import html_of, rows, text_of
from .helpers import FRIDAY, world

KIND = "weekly_report"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sweep(at) -> list[int]:
    with writing():
        return services.sweep(at)


def found(at):
    ids = set(sweep(at))
    return [r for r in rows(KIND) if r.id in ids]


def send_all(ids, at) -> list[str]:
    with time_machine.travel(at, tick=False), writing():
        return [services.send(i, at=at) for i in ids]


def test_found_on_fridays_from_the_report_time_once_per_manager_per_week(app):
    w = world()
    boss2 = make_user("manager", email="boss2@test.zone")
    make_user("manager", active=False)  # a deactivated manager gets nothing
    assert found(FRIDAY - timedelta(days=1)) == []  # Thursday 17:00
    assert found(FRIDAY - timedelta(minutes=1)) == []  # Friday 16:59
    week = found(FRIDAY)
    assert sorted(r.recipient_id for r in week) == sorted([w.manager.id, boss2.id])
    assert {(r.period, r.object_type) for r in week} == {("2025-W11", "user")}
    # later on Friday, on Saturday and on Sunday night: the same week, nothing new
    for later in (timedelta(hours=1), timedelta(days=1), timedelta(days=2, hours=6, minutes=59)):
        assert found(FRIDAY + later) == []
    assert found(FRIDAY + timedelta(days=3)) == []  # Monday: next week's round has not opened
    next_week = found(FRIDAY + timedelta(days=7))
    assert sorted(r.recipient_id for r in next_week) == sorted([w.manager.id, boss2.id])
    assert {r.period for r in next_week} == {"2025-W12"}
    # officers, admins and liaisons never get it
    assert {r.recipient_id for r in rows(KIND)} == {w.manager.id, boss2.id}


def test_a_scheduler_that_was_down_on_friday_evening_sends_it_on_saturday(app):
    w = world()
    (row,) = found(FRIDAY + timedelta(hours=18))  # Saturday 11:00
    assert (row.recipient_id, row.period) == (w.manager.id, "2025-W11")


def test_sent_once_with_the_report_attached(app, smtp):
    w = world()
    w.manager.locale, w.manager.email = "en", "boss@test.zone"
    db.session.commit()
    (row,) = found(FRIDAY)
    assert send_all([row.id], FRIDAY) == ["sent"]
    assert send_all([row.id], FRIDAY + timedelta(minutes=5)) == ["none"]  # a second delivery of the task
    assert found(FRIDAY + timedelta(hours=2)) == []
    (message,) = smtp.to("boss@test.zone")
    assert message["Subject"] == "Weekly project report, Mar 10, 2025 – Mar 14, 2025"
    assert message.get_content_type() == "multipart/mixed"
    assert message["Content-Language"] == "en"
    text = text_of(message)
    assert "Projects in the report: 6" in text and "Key projects: 3" in text
    assert "No update for 30 days: 3" in text and "of them without a reason: 2" in text
    # the two without a reason are named, with a link; the one with a reason is not
    assert "节点项目丙" in text and "线索项目甲" in text and "连接器扩产项目" not in text
    assert f"https://crm.example.gov.cn/projects/{w.p3.id}" in text
    assert "weekly-report-2025-W11.xlsx" in html_of(message)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "weekly-report-2025-W11.xlsx"
    assert attachment.get_content_type() == XLSX
    book = load_workbook(io.BytesIO(attachment.get_content()))
    assert book.sheetnames == ["周报", "超30天未更新"]
    # the manager's scope: the confidential key project is in it
    assert [book["周报"].cell(n, 2).value for n in range(4, 10)] == [
        "节点项目丙", "连接器扩产项目", "星河计划项目", "考察项目乙", "精密模具项目", "本周新线索"]
    assert book["超30天未更新"].cell(4, 8).value == "企业等待董事会审议"
    # the log keeps the subject and the bodies, not the file
    sent = next(r for r in rows(KIND) if r.id == row.id)
    assert sent.status == SENT and sent.subject == message["Subject"]
    assert "Projects in the report: 6" in sent.body_text and "PK" not in sent.body_text


def test_the_report_is_built_at_send_time_for_the_recipients_scope_in_the_zones_language(app, smtp):
    w = world()
    w.manager.email = "zh-boss@test.zone"  # Chinese UI; the form is Chinese either way
    db.session.commit()
    (row,) = found(FRIDAY)
    w.p3.key_project = True  # changed between the sweep and the send: the attachment has it
    db.session.commit()
    assert send_all([row.id], FRIDAY + timedelta(minutes=1)) == ["sent"]
    (message,) = smtp.to("zh-boss@test.zone")
    assert "2025年3月10日" in message["Subject"]  # dates in the recipient's language
    (attachment,) = list(message.iter_attachments())
    table = load_workbook(io.BytesIO(attachment.get_content()))["周报"]
    names = [table.cell(n, 2).value for n in range(4, table.max_row + 1)]
    assert "线索项目甲" in names
    assert table.cell(4 + names.index("连接器扩产项目"), 9).value.startswith("签约\n")


def test_opted_out_or_no_longer_a_manager_means_no_mail(app, smtp):
    w = world()
    boss2 = make_user("manager", email="boss2@test.zone")
    set_preferences(boss2.id, actor=boss2, opted_out=["weekly_report"], digest_time=None)
    (row,) = found(FRIDAY)  # the opted-out manager is not even recorded
    assert row.recipient_id == w.manager.id
    w.manager.role = "officer"  # moved to an officer's post between the sweep and the send
    db.session.commit()
    assert send_all([row.id], FRIDAY) == ["skipped"]
    assert next(r for r in rows(KIND) if r.id == row.id).status == SKIPPED
    assert smtp.messages == []
