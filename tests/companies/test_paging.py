"""Long lists: the count stops at the cap, and "continue" cursors walk past it without OFFSET, losing no row."""
import re
from datetime import timedelta

from crm.companies import queries
from crm.companies.models import Company
from crm.core.timeutil import utcnow
from crm.extensions import db

from ..factories import login, make_user


def _fill(n: int) -> None:
    now = utcnow()
    db.session.execute(Company.__table__.insert(), [
        {"name": f"分页企业{i:04d}", "name_norm": f"分页企业{i:04d}", "search_text": f"分页企业{i:04d}",
         "short_name": "", "address": "", "notes": "", "chain_tags": [], "listing_status": "none",
         "hmt_funded": False, "status": "prospect", "version": 1, "created_at": now - timedelta(minutes=i),
         "updated_at": now - timedelta(minutes=i // 2)} for i in range(n)])  # pairs share updated_at: ties by id
    db.session.commit()


def test_cursor_walk_visits_every_row_once(monkeypatch):
    monkeypatch.setattr(queries, "COUNT_CAP", 25)
    _fill(57)
    officer = make_user()
    for sort in ("updated", "created", "name"):
        seen, f = [], queries.CompanyFilters(sort=sort)
        while True:
            rows, total = queries.company_page(officer, f, per_page=10, count_cap=queries.COUNT_CAP)
            seen += [c.id for c in rows]
            if len(rows) < 10:
                break
            f = queries.CompanyFilters(sort=sort, after=queries.cursor_after(rows[-1], sort))
        assert total == 26  # counting stopped at cap + 1
        assert len(seen) == 57 and len(set(seen)) == 57, sort
        by_offset = [c.id for p in range(1, 7) for c in queries.company_page(
            officer, queries.CompanyFilters(sort=sort), page=p, per_page=10)[0]]
        assert seen == by_offset, sort  # the same order as numbered pages


def test_malformed_cursor_falls_back_to_the_first_page():
    _fill(3)
    officer = make_user()
    first = queries.company_page(officer, queries.CompanyFilters())[0]
    for bad in ("x", "~", "notadate~5", "2026-01-01T00:00:00+00:00~99999999999", "2026~-1", "'; DROP TABLE x~1"):
        assert queries.company_page(officer, queries.CompanyFilters(after=bad))[0] == first


def test_capped_list_page_offers_a_cursor_link(client, monkeypatch):
    monkeypatch.setattr(queries, "COUNT_CAP", 60)
    _fill(130)
    officer = make_user()
    login(client, officer)
    page = client.get("/companies?page=2").get_data(as_text=True)
    assert "60" in page  # "more than 60 companies"
    link = re.search(r'href="(/companies\?[^"]*after=[^"]+)"', page)
    assert link, "the last numbered page links onwards with a cursor"
    onward = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    shown = set(re.findall(r"分页企业\d{4}", page)) | set(re.findall(r"分页企业\d{4}", client.get(
        "/companies").get_data(as_text=True)))
    rest = set(re.findall(r"分页企业\d{4}", onward))
    assert len(shown) == 100 and len(rest) == 30 and not shown & rest  # the 30 rows after page 2, none twice
