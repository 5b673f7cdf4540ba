"""Races on the pipeline (RELIABILITY.md DI-2 and DI-3): stage moves, bulk moves and edits of the same project at
the same moment, each in its own thread with its own app context and database session, as two requests would run.

The PostgreSQL tests (marked `pg`, skipped on SQLite) hold both writers at a barrier placed just before their
flush, so both have read and checked the same version before either writes: what decides is the UPDATE's
`WHERE version = :read`, not the earlier check. On SQLite writers serialize (BEGIN IMMEDIATE, see
crm/core/database.py), so its variant releases the threads together at the start and the second one must see the
first one's move and be refused.
"""
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from crm import create_app
from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.core.database import writing
from crm.core.timeutil import today_in_zone
from crm.errors import Conflict, Invalid
from crm.extensions import db
from crm.projects import services
from crm.projects.models import FundsEntry, Project, StageMove

from .. import factories

#: how long a thread waits at a barrier or for the other thread's signal before the test fails
WAIT = 30


@pytest.fixture(scope="module")
def web(app):
    """The app on the suite's database as a request sees it: a fresh app context (session) per thread."""
    other = create_app("test", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    yield other
    with other.app_context():
        db.engine.dispose()


@pytest.fixture
def pg(dialect):
    if dialect != "postgresql":
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL=postgresql+psycopg://...)")


def fresh(model, ident):
    db.session.rollback()
    return db.session.get(model, ident)


def count(model, *where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def project_updates(project_id: int) -> int:
    return count(AuditEvent, AuditEvent.object_type == "project", AuditEvent.object_id == project_id,
                 AuditEvent.action == "update")


def run_threads(*works) -> list:
    """Run each work() in its own thread; return each one's result or the exception it raised."""
    results: list = [None] * len(works)

    def run(i):
        try:
            results[i] = works[i]()
        except Exception as exc:  # noqa: BLE001  (collected and asserted on by the caller)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


_local = threading.local()


@contextmanager
def before_flush_hook():
    """While active, a thread that set `_local.before_flush = fn(session)` has fn called before each of its flushes
    (other threads, and the test's own session, are not affected)."""

    def hook(session, _ctx, _instances):
        fn = getattr(_local, "before_flush", None)
        if fn is not None:
            fn(session)

    event.listen(Session, "before_flush", hook)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", hook)


def dirty_project(session, project_id: int) -> bool:
    return any(isinstance(o, Project) and o.id == project_id for o in session.dirty)


def in_request(web, fn):
    """Run fn(actor) as a POST would: its own app context, a writer's transaction; the hook is cleared after."""
    def work():
        try:
            with web.app_context(), writing():
                return fn()
        finally:
            _local.before_flush = None
    return work


def make_world():
    factories.make_reference()
    team = factories.make_team()
    ns = type("World", (), {})()
    ns.officer = factories.make_user(team=team, name="王一")
    ns.teammate = factories.make_user(team=team, name="王二")
    ns.manager = factories.make_user("manager", name="赵局")
    ns.company = factories.make_company(owner=ns.officer)
    return ns


# --- DI-3: two moves of one project at the same moment ----------------------------------------------------------------

MOVES = [("negotiating", "signed"), ("signed", "lost"), ("on_hold", "site_visit"), ("lost", "under_construction")]


def _move(web, project_id, actor_id, stage, read, barrier=None, at_flush=None):
    def fn():
        if barrier is not None:
            barrier.wait(WAIT)
        if at_flush is not None:
            _local.before_flush = lambda session: dirty_project(session, project_id) and at_flush.wait(WAIT)
        actor = db.session.get(User, actor_id)
        services.move_stage(project_id, stage, actor=actor, version=read, note=f"to {stage}", reason="其他园区")
        return stage
    return in_request(web, fn)


def _assert_one_move_applied(project_id, read, results, stages_tried):
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1, results
    assert len(losers) == 1 and isinstance(losers[0], Conflict), [repr(r) for r in losers]
    assert losers[0].status == 409
    stored = fresh(Project, project_id)
    assert stored.stage == winners[0] and stored.version == read + 1
    moves = db.session.scalars(select(StageMove).where(StageMove.project_id == project_id)
                               .order_by(StageMove.id)).all()
    assert [(m.from_stage, m.to_stage) for m in moves] == [(None, "lead"), ("lead", winners[0])]
    assert moves[1].note == f"to {winners[0]}"
    assert stored.lost_reason == ("其他园区" if winners[0] == "lost" else "")
    # the loser's stage was never reached
    loser_stage = next(s for s in stages_tried if s != winners[0])
    assert getattr(stored, f"reached_{loser_stage}") is None
    assert project_updates(project_id) == 1


@pytest.mark.pg
def test_di3_two_moves_from_the_same_read_version_exactly_one_applies(web, pg):
    w = make_world()
    ids = (w.officer.id, w.teammate.id)
    with before_flush_hook():
        for i in range(20):
            project = factories.make_project(w.company, owner=w.officer, stage="lead", name=f"竞争项目{i}")
            pid, read = project.id, project.version
            targets = MOVES[i % len(MOVES)]
            at_flush = threading.Barrier(2)  # both have read and checked version `read`; now both write
            results = run_threads(*(_move(web, pid, ids[k], targets[k], read, at_flush=at_flush) for k in range(2)))
            _assert_one_move_applied(pid, read, results, targets)
    assert count(StageMove) == 40 and count(Project) == 20


@pytest.mark.sqlite
def test_di3_sqlite_two_moves_at_once_the_second_is_refused(tmp_path):
    """SQLite (its own file, whatever the suite runs on): the writers serialize, the second sees a new version."""
    lite = create_app("test", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'race.sqlite'}")
    try:
        with lite.app_context():
            db.create_all()
            w = make_world()
            ids = (w.officer.id, w.manager.id)
            for i in range(20):
                db.session.rollback()  # a fresh transaction: the last check's read snapshot cannot upgrade to write
                project = factories.make_project(w.company, owner=w.officer, stage="lead", name=f"竞争项目{i}")
                pid, read = project.id, project.version
                targets = MOVES[i % len(MOVES)]
                barrier = threading.Barrier(2)
                results = run_threads(*(_move(lite, pid, ids[k], targets[k], read, barrier=barrier)
                                        for k in range(2)))
                _assert_one_move_applied(pid, read, results, targets)
            db.session.remove()
    finally:
        with lite.app_context():
            db.engine.dispose()


# --- DI-2: a manager's bulk move racing an officer's edit of one of its rows ------------------------------------------

def _bulk_world(w=None, n=50):
    """50 projects of the officer in negotiation (in a new world unless one is given)."""
    db.session.rollback()
    w = w or make_world()
    w.projects = [factories.make_project(w.company, owner=w.officer, stage="negotiating", name=f"批量项目{i}")
                  for i in range(n)]
    w.items = [(p.id, p.version) for p in w.projects]
    return w


def _bulk(web, w, **hook):
    # ids are read here, in the test's thread: the world's objects belong to the test's session
    manager_id, items = w.manager.id, list(w.items)

    def fn():
        if hook:
            _local.before_flush = hook["before_flush"]
        return services.bulk_move(items, "on_hold", actor=db.session.get(User, manager_id), note="春节后再议")
    return in_request(web, fn)


def _edit(web, w, project_id, read, note, before_flush=None):
    officer_id = w.officer.id

    def fn():
        if before_flush is not None:
            _local.before_flush = before_flush
        services.update_project(project_id, {"notes": note}, actor=db.session.get(User, officer_id), version=read)
        return "ok"
    return in_request(web, fn)


def _assert_consistent(w, contested_id, read, bulk, edit, note):
    """Whoever won, the final state is what each side was told: no silent loss, no double report."""
    assert not isinstance(bulk, Exception), repr(bulk)
    others = [p.id for p in w.projects if p.id != contested_id]
    assert set(bulk.moved) >= set(others) and not bulk.skipped
    for pid in others:
        assert fresh(Project, pid).stage == "on_hold"
    stored = fresh(Project, contested_id)
    moves = count(StageMove, StageMove.project_id == contested_id)
    if edit == "ok":
        # the officer was told the edit was saved: the bulk must have left that row alone and said so
        assert bulk.conflicts == [contested_id] and contested_id not in bulk.moved
        assert stored.notes == note and stored.stage == "negotiating" and stored.version == read + 1
        assert moves == 1
        return "officer kept"
    # the officer was told to reload; the bulk moved the row
    assert isinstance(edit, Conflict), repr(edit)
    assert contested_id in bulk.moved and bulk.conflicts == []
    assert stored.notes != note and stored.stage == "on_hold" and stored.version == read + 1
    assert moves == 2
    return "bulk kept"


@pytest.mark.pg
def test_di2_bulk_move_racing_an_edit_never_loses_the_edit(web, pg):
    outcomes, w = [], make_world()
    for i, position in enumerate((0, 25, 49, 10, 40, 25)):
        _bulk_world(w)
        contested = w.projects[position]
        contested_id, read = contested.id, contested.version
        barrier = threading.Barrier(2)
        note = f"王一的修改{i}"

        def released(work, barrier=barrier):
            def run():
                barrier.wait(WAIT)
                return work()
            return run

        bulk, edit = run_threads(released(_bulk(web, w)), released(_edit(web, w, contested_id, read, note)))
        outcomes.append(_assert_consistent(w, contested_id, read, bulk, edit, note))
    assert len(outcomes) == 6  # who wins depends on timing (the two tests below force each order); every outcome
    # was checked against what each side was told


@pytest.mark.pg
def test_di2_an_edit_committed_between_the_bulk_read_and_its_write_is_reported_as_a_conflict(web, pg):
    """The bulk read the row at version v; the officer's edit commits; the bulk's UPDATE ... WHERE version = v finds
    nothing: that row is a conflict (the per-row version check at write time, which a multi-row UPDATE lacks)."""
    w = _bulk_world()
    contested = w.projects[25]
    contested_id, read = contested.id, contested.version
    bulk_at_row, edit_done = threading.Event(), threading.Event()

    def hold_bulk(session):
        if dirty_project(session, contested_id):
            bulk_at_row.set()
            assert edit_done.wait(WAIT)

    edit = _edit(web, w, contested_id, read, "王一抢先保存")

    def edit_when_bulk_waits():
        assert bulk_at_row.wait(WAIT)
        try:
            return edit()
        finally:
            edit_done.set()

    with before_flush_hook():
        bulk, edit = run_threads(_bulk(web, w, before_flush=hold_bulk), edit_when_bulk_waits)
    assert edit == "ok"
    assert _assert_consistent(w, contested_id, read, bulk, edit, "王一抢先保存") == "officer kept"
    assert len(bulk.moved) == 49


@pytest.mark.pg
def test_di2_an_edit_read_before_the_bulk_committed_gets_409(web, pg):
    """The officer read version v and is about to write; the bulk moves every row and commits; the officer's UPDATE
    ... WHERE version = v finds nothing: 409, and the bulk's move stands."""
    w = _bulk_world()
    contested = w.projects[25]
    contested_id, read = contested.id, contested.version
    edit_at_write, bulk_done = threading.Event(), threading.Event()

    def hold_edit(session):
        if dirty_project(session, contested_id):
            edit_at_write.set()
            assert bulk_done.wait(WAIT)

    bulk = _bulk(web, w)

    def bulk_when_edit_waits():
        assert edit_at_write.wait(WAIT)
        try:
            return bulk()
        finally:
            bulk_done.set()

    with before_flush_hook():
        edit, bulk = run_threads(_edit(web, w, contested_id, read, "王一晚了一步", before_flush=hold_edit),
                                 bulk_when_edit_waits)
    assert isinstance(edit, Conflict), repr(edit)
    assert _assert_consistent(w, contested_id, read, bulk, edit, "王一晚了一步") == "bulk kept"
    assert len(bulk.moved) == 50


# --- funds in place: two corrections at once cannot take the total below zero -----------------------------------------

@pytest.mark.pg
def test_two_negative_corrections_at_once_cannot_both_pass_the_zero_check(web, pg):
    w = make_world()
    project = factories.make_project(w.company, owner=w.officer)
    pid = project.id
    services.add_funds(pid, {"received_on": today_in_zone(), "amount": "100"}, actor=w.officer)
    ids = (w.officer.id, w.teammate.id)
    at_flush = threading.Barrier(2)  # both read the total of 100 and found -60 acceptable

    def correct(k):
        def fn():
            _local.before_flush = lambda session: dirty_project(session, pid) and at_flush.wait(WAIT)
            services.add_funds(pid, {"received_on": today_in_zone(), "amount": "-60"},
                               actor=db.session.get(User, ids[k]))
            return "ok"
        return in_request(web, fn)

    with before_flush_hook():
        results = run_threads(correct(0), correct(1))
    assert results.count("ok") == 1, results
    assert isinstance(next(r for r in results if r != "ok"), Conflict | Invalid)
    stored = fresh(Project, pid)
    entries = db.session.scalars(select(FundsEntry.amount).where(FundsEntry.project_id == pid)).all()
    assert stored.funds_in_place == sum(entries) == 40 and len(entries) == 2
