"""The home page's "My projects" card: the signed-in officer's own projects per stage, and the stale ones."""
from datetime import timedelta

from bs4 import BeautifulSoup

from crm.core.timeutil import utcnow
from crm.extensions import db

from ..factories import login, make_project, make_reference, make_team, make_user


def test_home_counts_my_projects_per_stage_and_links_the_stale_ones(client):
    make_reference()
    team = make_team()
    me, mate = make_user("officer", team=team, locale="en"), make_user("officer", team=team)
    make_project(owner=me, stage="lead")
    make_project(owner=me, stage="lead")
    old = make_project(owner=me, stage="signed")
    make_project(owner=me, stage="lost")
    make_project(owner=mate, stage="lead")  # a team mate's: not mine
    make_project(owner=me, stage="negotiating", deleted=True)
    old.last_activity_at = utcnow() - timedelta(days=45)
    db.session.commit()
    login(client, me)
    soup = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    counts = {}
    for link in soup.select("a[href*='stage=']"):
        stage = link["href"].split("stage=")[1].split("&")[0]
        counts[stage] = int(link.select_one(".badge").get_text())
    assert counts["lead"] == 2 and counts["signed"] == 1 and counts["lost"] == 1
    assert counts["negotiating"] == 0 and counts["full_capacity"] == 0
    stale = soup.select_one("a[href*='stale=1']")
    assert stale is not None and "1 stale" in stale.get_text()
    assert f"owner_id={me.id}" in stale["href"]
