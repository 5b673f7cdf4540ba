"""In real Chromium at a phone's size: log a meeting for a company with two follow-ups ("+ add follow-up"), land on
the meeting's page, then tick one follow-up off on the tasks page with one click. Screenshots of the quick-log form,
a meeting's page and the tasks page (phone and desktop) land in tests/artifacts/."""
from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from crm.core.timeutil import today_in_zone, utcnow, zone
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingContact, MeetingUser, Task

from ..factories import make_company, make_contact, make_project, make_reference, make_team, make_user
from .conftest import ARTIFACTS
from .test_company_flow import sign_in

pytestmark = pytest.mark.browser

PHONE, DESKTOP = (390, 844), (1366, 900)


def seed():
    """An officer and a colleague of one team, companies with contacts and projects, and (for the screenshots) a
    few meetings and tasks around today."""
    make_reference()
    team = make_team("电子信息招商一组")
    officer = make_user(team=team, name="王招商")
    colleague = make_user(team=team, name="欧阳晓峰")
    make_user(name="李明")
    company = make_company("深圳市汇川技术股份有限公司", owner=officer, cluster="electronic_info")
    boss = make_contact(company, name="刘总", title="副总裁")
    make_contact(company, name="周经理", title="投资发展部经理")
    make_contact(company, name="陈工", title="厂务总监")
    project = make_project(company, owner=officer, name="伺服系统与工业机器人核心部件研发生产基地", stage="negotiating")
    make_project(company, owner=officer, name="华中区域备件中心", stage="lead")
    other = make_company("江西晶科光伏材料股份有限公司", owner=officer)
    db.session.commit()
    found = SimpleNamespace(officer=SimpleNamespace(id=officer.id, email=officer.email, name=officer.name),
                            colleague=SimpleNamespace(id=colleague.id, name=colleague.name),
                            company=SimpleNamespace(id=company.id, name=company.name), boss_id=boss.id,
                            project=SimpleNamespace(id=project.id, name=project.name), other_id=other.id)
    db.session.rollback()
    return found


def add_history(w):
    """Meetings and tasks to fill the pages the screenshots show."""
    today = today_in_zone()

    def at(days, hour, minute=0):  # zone time, stored in UTC
        return datetime.combine(today + timedelta(days=days), time(hour, minute), tzinfo=zone()).astimezone(UTC)

    visit = Meeting(type="visit", start_at=at(-2, 10), end_at=at(-2, 11, 30), city="深圳", place="汇川技术南山总部",
                    company_id=w.company.id, project_id=w.project.id, owner_id=w.officer.id,
                    summary="介绍园区电子信息产业链配套和标准厂房政策。\n企业关注：土地价格、人才公寓、物流时效。",
                    outcome="有意向在华中布局第二生产基地，预计投资3亿元。", next_step="两周内安排来访考察。")
    call = Meeting(type="call", start_at=at(-6, 15), company_id=w.other_id, owner_id=w.officer.id, place="电话",
                   summary="确认考察行程。")
    db.session.add_all([visit, call])
    db.session.flush()
    db.session.add(MeetingUser(meeting_id=visit.id, user_id=w.colleague.id))
    db.session.add(MeetingContact(meeting_id=visit.id, contact_id=w.boss_id))
    rows = [("发送土地价格表和厂房平面图", -3, None, w.company.id, w.project.id, visit.id, None),
            ("回复人才公寓政策问题", -1, None, w.company.id, None, visit.id, None),
            ("约财务总监电话", 0, time(15, 30), w.company.id, w.project.id, None, None),
            ("准备来访考察接待方案", 0, None, w.company.id, w.project.id, visit.id, None),
            ("晶科光伏：寄送园区宣传册", 2, None, w.other_id, None, call.id, None),
            ("季度走访总结", 12, None, None, None, None, None),
            ("整理本周拜访记录", 0, None, None, None, None, utcnow() - timedelta(minutes=20))]
    for title, days, clock, company_id, project_id, meeting_id, done_at in rows:
        due_at = datetime.combine(today + timedelta(days=days), clock, tzinfo=zone()).astimezone(UTC) if clock \
            else None
        db.session.add(Task(title=title, due_on=today + timedelta(days=days), due_at=due_at, owner_id=w.officer.id,
                            company_id=company_id, project_id=project_id, meeting_id=meeting_id, done_at=done_at,
                            done_by_id=w.officer.id if done_at else None))
    db.session.commit()
    visit_id = visit.id
    db.session.rollback()
    return visit_id


def test_phone_log_a_meeting_with_two_follow_ups_and_complete_one(live_server, page_factory):
    w = seed()
    page = page_factory(*PHONE)
    sign_in(page, live_server, w.officer)
    page.click("[data-test=log-meeting]")
    page.wait_for_url(f"{live_server}/meetings/new")
    # the form fits the phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    assert page.locator("[data-follow-ups] [data-follow-up-row]").count() == 1  # JavaScript: one row to start

    page.click("label[for=type-negotiation]")
    page.fill("#company_q", "汇川")
    page.click(f"#company-options [data-company-id='{w.company.id}']")
    page.wait_for_selector(f"#project_id option[value='{w.project.id}']", state="attached")
    page.select_option("#project_id", str(w.project.id))
    page.click(f"label[for=contact-{w.boss_id}]")
    page.fill("#place", "汇川技术南山总部")
    page.fill("#summary", "洽谈第二生产基地选址，企业关注土地价格与物流。")
    page.fill("#next_step", "安排来访考察")

    today, tomorrow = today_in_zone(), today_in_zone() + timedelta(days=1)
    page.fill("[name=follow_ups-0-title]", "发送土地价格表")
    page.fill("[name=follow_ups-0-due_date]", today.isoformat())
    page.click("[data-add-follow-up]")
    page.wait_for_selector("[data-follow-ups] [data-follow-up-row]:nth-child(2)")
    second = page.locator("[data-follow-ups] [data-follow-up-row]").nth(1)
    second.locator("input[name$=-title]").fill("约财务总监")
    second.locator("input[name$=-due_date]").fill(tomorrow.isoformat())
    second.locator("input[name$=-due_time]").fill("10:30")
    second.locator("select[name$=-owner_id]").select_option(str(w.colleague.id))
    page.screenshot(path=str(ARTIFACTS / "meetings-e2e-form-phone.png"), full_page=True)

    page.click("[data-test=save]")
    page.wait_for_url(f"{live_server}/meetings/*")
    assert page.locator("[data-test=meeting-tasks] [data-task-id]").count() == 2
    page.screenshot(path=str(ARTIFACTS / "meetings-e2e-meeting-phone.png"), full_page=True)

    db.session.rollback()
    meeting = db.session.scalar(select(Meeting))
    assert (meeting.type, meeting.company_id, meeting.project_id, meeting.owner_id) == \
        ("negotiation", w.company.id, w.project.id, w.officer.id)
    assert [c.id for c in meeting.participant_contacts] == [w.boss_id]
    tasks = list(db.session.scalars(select(Task).order_by(Task.id)))
    assert [(t.title, t.due_on, t.owner_id, t.meeting_id) for t in tasks] == [
        ("发送土地价格表", today, w.officer.id, meeting.id), ("约财务总监", tomorrow, w.colleague.id, meeting.id)]
    db.session.rollback()

    # the tasks page, through the menu (collapsed on a phone)
    page.click(".navbar-toggler")
    page.click("#nav-menu a[href='/tasks']")
    page.wait_for_url(f"{live_server}/tasks")
    first = tasks[0]
    row = page.locator(f"[data-group=today] #task-{first.id}")
    assert row.count() == 1
    with page.expect_response(lambda r: r.url.endswith(f"/tasks/{first.id}/done")) as answer:
        row.locator("[data-test=done]").click()
    assert answer.value.status in (200, 302)
    page.wait_for_selector(f"[data-group=done_today] #task-{first.id}.is-done")
    assert page.locator(f"[data-group=today] #task-{first.id}").count() == 0
    assert page.url == f"{live_server}/tasks"  # swapped in place
    page.screenshot(path=str(ARTIFACTS / "meetings-e2e-tasks-phone.png"), full_page=True)

    db.session.rollback()
    done = {t.title: t.done_at is not None for t in db.session.scalars(select(Task))}
    assert done == {"发送土地价格表": True, "约财务总监": False}
    assert db.session.get(Task, first.id).done_by_id == w.officer.id
    db.session.rollback()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_screenshots_of_the_meeting_pages(live_server, page_factory, size):
    w = seed()
    visit_id = add_history(w)
    page = page_factory(*size)
    sign_in(page, live_server, w.officer)
    name = "phone" if size == PHONE else "desktop"
    page.screenshot(path=str(ARTIFACTS / f"meetings-home-{name}.png"), full_page=True)
    page.goto(f"{live_server}/meetings/new?company_id={w.company.id}&project_id={w.project.id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    page.screenshot(path=str(ARTIFACTS / f"meetings-form-{name}.png"), full_page=True)
    # errors are shown by their fields (and the page says so at the top)
    page.fill("#end_at", "2020-01-01T10:00")
    page.fill("#company_q", "")
    page.fill("[name=follow_ups-0-title]", "没有日期的跟进")
    page.click("[data-test=save]")
    page.wait_for_selector(".invalid-feedback")
    assert page.locator("[data-error-for=end_at]").count() == 1
    assert page.locator("[data-error-for=company_q]").count() == 1
    assert page.locator("[data-error-for=follow_ups-0-due_date]").count() == 1
    page.screenshot(path=str(ARTIFACTS / f"meetings-form-errors-{name}.png"), full_page=True)
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.screenshot(path=str(ARTIFACTS / f"meetings-form-bottom-{name}.png"))
    page.goto(f"{live_server}/meetings/{visit_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    page.screenshot(path=str(ARTIFACTS / f"meetings-show-{name}.png"), full_page=True)
    page.goto(f"{live_server}/tasks")
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    overdue = page.locator("[data-group=overdue] [data-task-id]").count()
    assert overdue >= 2  # (the 15:30 call is overdue too once the test runs after 15:30)
    page.screenshot(path=str(ARTIFACTS / f"meetings-tasks-{name}.png"), full_page=True)
    # the snooze menu opens and moves a task
    row = page.locator("[data-group=overdue] [data-task-id]").first
    task_id = row.get_attribute("data-task-id")
    row.locator("[data-test=task-menu]").click()
    page.screenshot(path=str(ARTIFACTS / f"meetings-tasks-menu-{name}.png"))
    with page.expect_response(lambda r: f"/tasks/{task_id}/snooze" in r.url):
        row.locator("[data-test=snooze-tomorrow]").click()
    page.wait_for_selector(f"[data-group=week] #task-{task_id}, [data-group=later] #task-{task_id}")
    assert page.locator("[data-group=overdue] [data-task-id]").count() == overdue - 1
    page.goto(f"{live_server}/tasks/new?company_id={w.company.id}")
    page.screenshot(path=str(ARTIFACTS / f"meetings-task-form-{name}.png"), full_page=True)
