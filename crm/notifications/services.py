"""Reminders out, each exactly once: the sweep records what is due in the notification log (its unique key is the gate,
R2), the send claims one row, renders it in the recipient's language and hands it to the SMTP server. The scheduled
task, the worker and `flask crm reminders run` all call these functions.

A row's life: pending → sending (claimed, committed before SMTP) → sent; or → skipped (no longer due, opted out,
deactivated); or back to pending with a retry time after a temporary failure, and failed after the last try or a
permanent refusal. A claim whose worker died is taken again once its lease has passed.
"""
import html as html_module
import logging
import os
import signal
import smtplib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import NamedTuple

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, case, exists, or_, select, update

import config
from crm.audit import services as audit
from crm.auth import access
from crm.auth.models import Role, User
from crm.core.database import writing
from crm.core.timeutil import as_aware, to_zone, utcnow
from crm.errors import Conflict, Forbidden, Invalid, NotFound
from crm.extensions import db

from . import mail
from .kinds import KINDS, Due, NotDue, default_digest_time
from .models import FAILED, PENDING, SENDING, SENT, SKIPPED, Notification, NotificationOptOut, NotificationPreference

#: tries per notification (each claim counts one), across Celery retries, requeues and CLI runs
MAX_ATTEMPTS = 5
#: retry countdowns: 30 s doubling to at most 10 minutes (the send task's retry_backoff and retry_backoff_max);
#: every countdown stays far below the Redis visibility timeout (config: 1 hour). These times come from config.py,
#: where the environment may shorten them for the chaos tests.
RETRY_BACKOFF = config.NOTIFICATION_RETRY_BACKOFF
RETRY_BACKOFF_MAX = config.NOTIFICATION_RETRY_BACKOFF_MAX
#: a claim older than this belongs to a worker that died (task_time_limit is 4 minutes; SMTP time-outs 20 s)
CLAIM_LEASE = timedelta(seconds=config.NOTIFICATION_CLAIM_LEASE)
#: a pending row this long past its time had its send task lost (Redis down or emptied, a worker killed): the sweep
#: queues it again; a claim's lease is counted the same way
REQUEUE_AFTER = timedelta(seconds=config.NOTIFICATION_REQUEUE_AFTER)
#: rows written per INSERT statement
INSERT_CHUNK = 500


def notification_key(kind: str, due: Due) -> str:
    return f"{kind}/{due.recipient_id}/{due.object_type}:{due.object_id}/{due.period}"


# --- the sweep -------------------------------------------------------------------------------------------------------

def _eligible(due: list[tuple[str, Due]]) -> list[tuple[str, Due]]:
    """Reminders go to active staff only (never to liaisons or a company's contacts), and not of a kind the user
    opted out of."""
    user_ids = sorted({d.recipient_id for _kind, d in due})
    active: set[int] = set()
    opted_out: set[tuple[int, str]] = set()
    for i in range(0, len(user_ids), INSERT_CHUNK):
        chunk = user_ids[i:i + INSERT_CHUNK]
        active.update(db.session.scalars(select(User.id).where(
            User.id.in_(chunk), User.is_active_user.is_(True), User.role.in_(tuple(access.STAFF_ROLES)))))
        opted_out.update(db.session.execute(select(NotificationOptOut.user_id, NotificationOptOut.kind)
                                            .where(NotificationOptOut.user_id.in_(chunk))).tuples())
    return [(k, d) for k, d in due if d.recipient_id in active and (d.recipient_id, k) not in opted_out]


def _insert_new(rows: list[dict]) -> list[int]:
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id: a key already recorded, by an earlier sweep or by one
    running at this moment in another process, inserts nothing and returns nothing."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two databases the product runs on
        raise RuntimeError(f"no insert-or-ignore for {dialect}")
    table = Notification.__table__
    # one executemany (SQLAlchemy's "insertmanyvalues": the statement compiled once, the rows sent in batches)
    statement = insert(table).on_conflict_do_nothing(index_elements=[table.c.key]).returning(table.c.id)
    return sorted(db.session.execute(statement, rows).scalars())


def sweep(now: datetime) -> list[int]:
    """Record every reminder due at `now` that is not recorded yet, commit, and return the new rows' ids (the
    caller queues or sends them). Running it again, or twice at once, records nothing twice."""
    now = as_aware(now).astimezone(UTC)
    found = [(name, d) for name, kind in KINDS.items() for d in kind.find(now)]
    by_key = {notification_key(name, d): (name, d) for name, d in _eligible(found)}
    keys = list(by_key)
    for i in range(0, len(keys), INSERT_CHUNK):  # skip the known ones before writing (the insert would too)
        for key in db.session.scalars(select(Notification.key).where(Notification.key.in_(keys[i:i + INSERT_CHUNK]))):
            by_key.pop(key, None)
    stamp = utcnow()
    rows = [{"kind": name, "recipient_id": d.recipient_id, "object_type": d.object_type, "object_id": d.object_id,
             "period": d.period, "key": key, "context": d.context, "status": PENDING, "attempts": 0,
             "possible_duplicate": False, "next_attempt_at": stamp, "created_at": stamp, "updated_at": stamp}
            for key, (name, d) in by_key.items()]
    ids = _insert_new(rows) if rows else []
    db.session.commit()
    return ids


def recoverable(now: datetime | None = None) -> list[int]:
    """Rows whose send never happened: pending well past their time (the queued task was lost with Redis or a killed
    worker) and claims past their lease (the worker died during the send). Marked as requeued now, committed;
    the caller queues them again. A second delivery of one send task does nothing (see `send`)."""
    now = as_aware(now or utcnow()).astimezone(UTC)
    ids = list(db.session.scalars(select(Notification.id).where(
        Notification.status.in_((PENDING, SENDING)), Notification.next_attempt_at <= now - REQUEUE_AFTER)
        .order_by(Notification.id)))
    if ids:
        db.session.execute(update(Notification).where(Notification.id.in_(ids)).values(next_attempt_at=now)
                           .execution_options(synchronize_session=False))
    db.session.commit()
    return ids


def due_now(now: datetime) -> list[int]:
    """What the scheduled sweep queues: the new rows and the ones to recover."""
    return sorted(set(sweep(now)) | set(recoverable(now)))


# --- sending ---------------------------------------------------------------------------------------------------------

_LOG = Notification.__table__


def _claimable(row_id, lease_cutoff):
    """The one rule of what a send may take: the row pending, or held by a claim older than the lease."""
    c = _LOG.c
    return and_(c.id == row_id, or_(c.status == PENDING, and_(c.status == SENDING, c.claimed_at <= lease_cutoff)))


@cache
def _claim_statement():
    """The claim's UPDATE ... RETURNING, built once with bound parameters (id, now, lease_cutoff, lease_end), on the
    table: the send's statements skip the ORM's bulk-update layer and being built anew for every e-mail."""
    c = _LOG.c
    retaken = c.status == SENDING
    return (update(_LOG)
            .where(_claimable(bindparam("row_id"), bindparam("lease_cutoff")), c.attempts < MAX_ATTEMPTS)
            .values(status=SENDING, claimed_at=bindparam("now"), attempts=c.attempts + 1,
                    next_attempt_at=bindparam("lease_end"), updated_at=bindparam("now"),
                    # the earlier claim may have died after the server accepted the message: a second copy may follow
                    possible_duplicate=case((and_(retaken, c.message_id.is_not(None)), True),
                                            else_=c.possible_duplicate))
            .returning(*c))


def _claim(notification_id: int, now: datetime):
    """Take the row for this send (one more attempt) in one guarded UPDATE ... RETURNING, committed before anything
    else: only a pending row, or a claim whose lease has passed, with tries left. A sent, skipped or failed row, or
    one another task holds, is left alone (a redelivered or duplicated task does nothing). Returns the claimed row
    (its columns, as they are after the claim) or None."""
    with writing():
        row = db.session.execute(_claim_statement(), {
            "row_id": notification_id, "now": now, "lease_cutoff": now - CLAIM_LEASE,
            "lease_end": now + CLAIM_LEASE}).first()
        if row is None:  # nothing to do, or its sends keep dying with their worker (RM-6): stop, and show it
            _give_up(notification_id, now)
        # committed on its own, before the checks and the rendering: a try that dies anywhere after this still counts
        db.session.commit()
    return row


def _give_up(notification_id: int, now: datetime) -> None:
    """A claimable row out of tries is failed, with a note saying so."""
    claimable = _claimable(notification_id, now - CLAIM_LEASE)
    row = db.session.execute(select(Notification.status, Notification.attempts, Notification.last_error)
                             .where(claimable, Notification.attempts >= MAX_ATTEMPTS)).first()
    if row is None:
        return
    note = f"Gave up after {row.attempts} tries" + (" (the worker stopped in the last one)."
                                                    if row.status == SENDING else ".")
    db.session.execute(update(Notification).where(claimable, Notification.attempts == row.attempts)
                       .values(status=FAILED, updated_at=now,
                               last_error=f"{row.last_error}\n{note}" if row.last_error else note)
                       .execution_options(synchronize_session=False))


@cache
def _claimed_update(columns: frozenset[str]):
    """UPDATE of these columns (bound by their names) on a row still held by this claim, built once per set."""
    c = _LOG.c
    return (update(_LOG)
            .where(c.id == bindparam("row_id"), c.status == SENDING, c.attempts == bindparam("row_attempts"))
            .values({name: bindparam(name) for name in columns}))


def _while_claimed(row, now: datetime, **values) -> bool:
    """Write to the claimed row, and commit, unless the claim was lost meanwhile (its lease passed and another send
    took it): guarded on the claim's status and try. SQLite: this write alone holds the write lock, so another worker
    renders while this one waits for the SMTP server."""
    values["updated_at"] = now
    with writing():
        done = db.session.execute(_claimed_update(frozenset(values)),
                                  {"row_id": row.id, "row_attempts": row.attempts, **values}).rowcount == 1
        db.session.commit()
    return done


def _recipient(row) -> tuple[User | None, str | None]:
    """The row's recipient, and why the reminder must not go to them (None: it may): one statement."""
    opted_out = exists().where(NotificationOptOut.user_id == User.id, NotificationOptOut.kind == row.kind)
    found = db.session.execute(select(User, opted_out).where(User.id == row.recipient_id)).first()
    recipient, opted = found if found is not None else (None, False)
    if row.kind not in KINDS:
        return recipient, "unknown_kind"
    if recipient is None or not recipient.is_active_user or recipient.role not in access.STAFF_ROLES:
        return recipient, "inactive"
    return recipient, "opted_out" if opted else None


def _language(code: str | None) -> str:
    """One of the app's languages: `code` when it is one, else the default."""
    return code if code in current_app.config["CRM_LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


def language_of(user: User) -> str:
    return _language(user.locale)


def _parts(template: str, language: str, context: dict) -> tuple[str, str]:
    """The plain text and the HTML of an e-mail from `<template>.txt.html` and `<template>.html`, with the
    context every e-mail's layout reads (its language, the reminder settings' link); call it in the recipient's
    locale. The plain-text template is autoescaped like every template and its output unescaped once (see
    `render`)."""
    context.update(lang=language.replace("_", "-"), preferences_url=mail.absolute_url("notifications.settings"))
    return (html_module.unescape(render_template(f"{template}.txt.html", **context)),
            render_template(f"{template}.html", **context))


class Rendered(NamedTuple):
    subject: str
    text: str
    html: str
    #: files sent with the e-mail, (file name, MIME type, content): built at send time, never stored
    attachments: tuple[mail.Attachment, ...] = ()


def render(row: Notification, recipient: User, at: datetime) -> Rendered:
    """Subject, plain text, HTML and attachments in the recipient's language (NotDue when there is nothing to send
    any more).

    A kind's `compose` may put "attachments" in its context, a list of (file name, MIME type, bytes) (the weekly
    report's .xlsx): they go with the e-mail, but the log keeps only the subject and the two bodies. A resend (or a
    retry) composes again, so it sends the files as they are then, from the same records the bodies are read from.

    The plain-text part's template (`<kind>.txt.html`) is autoescaped like every template, so no template of the app
    renders a record's text unescaped; its output is unescaped once, which gives back each value exactly
    (unescape(escape(s)) == s), as plain text must show it."""
    kind = KINDS[row.kind]
    language = language_of(recipient)
    with force_locale(language):
        context = kind.compose(row, recipient, at)
        attachments = tuple(context.pop("attachments", ()))
        context["recipient_name"] = recipient.name
        text, html = _parts(kind.template, language, context)
    return Rendered(context["subject"], text, html, attachments)


def preview_digest(user: User, at: datetime | None = None) -> Rendered | None:
    """The daily digest `user` would get for the day of `at` (default now) if it were sent now, in their language;
    None when nothing is due (no digest would go out). Nothing is recorded: the row is never added to the session."""
    at = as_aware(at or utcnow()).astimezone(UTC)
    row = Notification(kind="digest", recipient_id=user.id, object_type="user", object_id=user.id,
                       period=to_zone(at).date().isoformat(), status=PENDING, attempts=0)
    try:
        return render(row, user, at)
    except NotDue:
        return None


def _record_failure(notification_id: int, exc: BaseException, now: datetime) -> str:
    """After a failed try: pending again with the time of its retry, or failed for good (a permanent refusal, or the
    last try). Returns the new status."""
    db.session.rollback()
    with writing():
        row = db.session.get(Notification, notification_id, populate_existing=True)
        row.last_error = mail.describe_error(exc)[:2000]
        if mail.is_permanent(exc) or row.attempts >= MAX_ATTEMPTS:
            row.status = FAILED
        else:
            row.status = PENDING
            row.next_attempt_at = now + timedelta(
                seconds=min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2 ** (row.attempts - 1)))
        db.session.commit()
    return row.status


def _test_crash(point: str) -> None:
    """TEST-ONLY crash hook (RM-5 chaos tests): with CRM_TEST_CRASH_AT=<point> in the environment the process dies
    here with SIGKILL, as a worker killed at that moment would; with CRM_TEST_CRASH_ONCE_FILE as well, only the first
    process to get here dies (it creates that file). Does nothing unless the variable is set; never set it outside
    tests. Points: "after_claim" (claim committed, nothing sent), "after_smtp" (the server said 250, the row not yet
    marked sent)."""
    if os.environ.get("CRM_TEST_CRASH_AT") != point:
        return
    once = os.environ.get("CRM_TEST_CRASH_ONCE_FILE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)


def send(notification_id: int, *, at: datetime | None = None) -> str:
    """Send one notification unless it was already sent: claim, check it is still due (as of `at`, default now),
    render, store the content and the Message-ID, commit, hand over to SMTP, mark sent. Returns what happened
    ("sent", "skipped", "failed", or "none" when there was nothing to do). A temporary failure is recorded and
    raised again, for the caller to retry.

    Only the claim and the three writes after it take SQLite's write lock; the reading and rendering between them
    run in a plain transaction."""
    now = utcnow()
    at = as_aware(at).astimezone(UTC) if at is not None else now
    row = _claim(notification_id, now)
    if row is None:
        return "none"
    _test_crash("after_claim")
    try:
        recipient, reason = _recipient(row)
        if reason is None:
            try:
                subject, text, html, attachments = render(row, recipient, at)
            except NotDue as not_due:
                reason = not_due.reason
        to_name, to_email, language = (recipient.name, recipient.email, language_of(recipient)) \
            if recipient is not None else ("", "", "")
        db.session.rollback()  # the reading transaction ends here (nothing was written in it)
        if reason is not None:
            return "skipped" if _while_claimed(row, utcnow(), status=SKIPPED, skip_reason=reason) else "none"
        message_id = row.message_id or mail.message_id_for(row.key)
        message = mail.build_message(to_name=to_name, to_email=to_email, subject=subject, text=text, html=html,
                                     message_id=message_id, language=language, attachments=attachments)
        # the content and the Message-ID are kept before the hand-over
        if not _while_claimed(row, utcnow(), subject=mail.one_line(subject)[:500], body_text=text, body_html=html,
                              message_id=message_id):
            return "none"
        # an outbox file is named by its row (a resend rewrites it), creation time first so a listing reads in order
        outbox_name = f"{as_aware(row.created_at).astimezone(UTC):%Y%m%dT%H%M%SZ}-{row.id}-{row.kind}"
        mail.deliver(message, to_email, outbox_name=outbox_name)
        _test_crash("after_smtp")
    except Exception as exc:
        if _record_failure(notification_id, exc, now) == FAILED:
            return "failed"
        raise
    stamp = utcnow()
    _while_claimed(row, stamp, status=SENT, sent_at=stamp)
    return "sent"


def resend(notification_id: int, *, actor: User) -> Notification:
    """Put a failed notification back in the queue (managers and admins): pending, its tries counted afresh, the same
    Message-ID. Audited and committed, then its send task is queued without waiting for the broker; a queuing that
    fails leaves the row pending, and the sweep's recovery pass (`recoverable`) queues it again."""
    if not access.is_manager(actor):
        raise Forbidden(str(_l("Only a manager or an administrator may send a reminder again.")))
    row = db.session.get(Notification, notification_id)
    if row is None:
        raise NotFound(str(_l("No such reminder.")))
    now = utcnow()
    # guarded on the status: two clicks, or a resend racing a send, reset the row at most once
    taken = db.session.execute(
        update(Notification).where(Notification.id == row.id, Notification.status == FAILED)
        .values(status=PENDING, attempts=0, claimed_at=None, next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        db.session.rollback()
        raise Conflict(str(_l("Only a failed reminder can be sent again.")))
    audit.record("update", actor=actor, object_type="notification", object_id=row.id, label=row.key,
                 changes={"status": [FAILED, PENDING], "attempts": [row.attempts, 0]})
    db.session.commit()
    db.session.refresh(row)
    queue_send(row.id)
    return row


# --- checking the mail settings --------------------------------------------------------------------------------------

#: a test e-mail sent from a page waits at most this long for the SMTP server (the workers wait MAIL_TIMEOUT)
TEST_MAIL_TIMEOUT = 10


@dataclass(frozen=True)
class MailSetup:
    """How e-mail goes out, as the admin page shows it: never the password."""
    server: str
    port: int
    security: str  # "ssl", "starttls" or "none"
    username: str
    sender: str
    outbox: str

    @property
    def configured(self) -> bool:
        return bool(self.server)


def mail_setup() -> MailSetup:
    config = current_app.config
    security = "ssl" if config.get("MAIL_USE_SSL") else "starttls" if config.get("MAIL_USE_TLS") else "none"
    return MailSetup(config.get("MAIL_SERVER") or "", int(config.get("MAIL_PORT") or 0), security,
                     config.get("MAIL_USERNAME") or "", config["MAIL_DEFAULT_SENDER"], str(mail.outbox_dir()))


@dataclass(frozen=True)
class MailCheck:
    """What came of a test e-mail."""
    ok: bool
    #: the server's refusal or the error (empty when it went through)
    error: str = ""
    #: with no server configured: the .eml file it was written to
    outbox_file: str = ""


def send_test_mail(*, to_email: str, to_name: str = "", language: str | None = None,
                   actor: User | None = None) -> MailCheck:
    """Send one e-mail through the configured SMTP server now, on a connection of its own (opened and closed here,
    at most `TEST_MAIL_TIMEOUT` s), to check the mail settings: the answer is whether the server took it, or its
    error. Nothing goes through the notification log. With no server configured it is written to the outbox.
    Audited when an admin sends it from the page (`actor`). Ends the session's transaction before sending: call it
    with nothing unsaved."""
    from crm.core.fields import Email, FieldError

    try:
        to_email = Email().parse(to_email)
        if not to_email:
            raise FieldError(_l("Enter a valid e-mail address."))
    except FieldError as exc:
        raise Invalid(str(exc), {"to": [str(exc)]}) from None
    language = _language(language)
    setup, stamp = mail_setup(), utcnow()
    with force_locale(language):
        context = {"subject": str(_l("Test e-mail from the CRM")), "recipient_name": to_name, "setup": setup,
                   "sent_at": stamp}
        text, html = _parts("email/mail_test", language, context)
    message = mail.build_message(to_name=to_name, to_email=to_email, subject=context["subject"], text=text,
                                 html=html, message_id=mail.message_id_for(f"mail-test/{to_email}/{stamp.isoformat()}"),
                                 language=language)
    outbox_name = f"{stamp:%Y%m%dT%H%M%SZ}-mail-test"
    # the reading transaction ends before the wait for the server: on SQLite a request that will write holds the
    # write lock from its first statement, and no other writer should wait for a slow mail server
    db.session.rollback()
    try:
        mail.deliver(message, to_email, outbox_name=outbox_name, timeout=TEST_MAIL_TIMEOUT, keep=False)
        result = MailCheck(True, outbox_file="" if setup.configured else str(mail.outbox_dir() / f"{outbox_name}.eml"))
    except (smtplib.SMTPException, OSError) as exc:
        result = MailCheck(False, error=mail.describe_error(exc))
    if actor is not None:
        audit.record("mail_test", actor=actor, object_type="user", object_id=actor.id, label=to_email,
                     changes={"result": [None, "ok" if result.ok else result.error[:200]]})
        db.session.commit()
    return result


def _publish(celery_app, notification_id: int) -> None:
    try:
        celery_app.send_task("notifications.send", args=[notification_id], retry=False)
    except Exception:  # the row is pending: the sweep's recovery pass queues it again
        logging.getLogger(__name__).warning("could not queue notification %s", notification_id, exc_info=True)


def queue_send(notification_id: int) -> threading.Thread:
    """Queue one send task from a web request (after its commit) on a thread of its own: with Redis down, connecting
    takes up to the broker's connection timeout, which a page must not wait for (R4)."""
    thread = threading.Thread(target=_publish, args=(current_app.extensions["celery"], notification_id),
                              name=f"queue-notification-{notification_id}", daemon=True)
    thread.start()
    return thread


@dataclass
class RunResult:
    found: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def run(at: datetime) -> RunResult:
    """`flask crm reminders run`: the scheduled sweep, then every row it found sent from this process (no broker).
    A row whose send fails stays pending with its retry time, for the worker or the next run."""
    with writing():
        ids = due_now(at)
    result = RunResult(found=len(ids))
    for notification_id in ids:
        try:
            outcome = send(notification_id, at=at)
        except Exception:  # recorded on the row (attempts, last_error); retried later
            db.session.rollback()
            outcome = "retry"
        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
    mail.close_connection()
    return result


# --- preferences -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Preferences:
    digest_time: time
    #: whether the user chose the time (else the zone's default)
    own_time: bool
    opted_out: frozenset[str]


def preferences(user_id: int) -> Preferences:
    chosen = db.session.scalar(select(NotificationPreference.digest_time)
                               .where(NotificationPreference.user_id == user_id))
    opted_out = frozenset(db.session.scalars(select(NotificationOptOut.kind)
                                             .where(NotificationOptOut.user_id == user_id)))
    return Preferences(chosen or default_digest_time(), chosen is not None, opted_out)


def kind_choices() -> list[tuple[str, str]]:
    return [(name, str(kind.label)) for name, kind in KINDS.items()]


def set_preferences(user_id: int, *, actor: User, opted_out: Iterable[str], digest_time: time | None) -> Preferences:
    """Save a user's opt-outs and digest time (None: the zone's default). Users change their own; admins anyone's."""
    if actor.id != user_id and actor.role != Role.ADMIN.value:
        raise Forbidden(str(_l("You may change only your own reminder settings.")))
    opted_out = set(opted_out)
    unknown = opted_out - set(KINDS)
    if unknown:
        raise Invalid(str(_l("Please correct the marked fields.")),
                      {"opted_out": [str(_l("Unknown kind of reminder."))]})
    before = preferences(user_id)
    pref = db.session.get(NotificationPreference, user_id) or NotificationPreference(user_id=user_id)
    pref.digest_time = digest_time.replace(second=0, microsecond=0, tzinfo=None) if digest_time else None
    db.session.add(pref)
    for kind in before.opted_out - opted_out:
        db.session.delete(db.session.get(NotificationOptOut, (user_id, kind)))
    db.session.add_all(NotificationOptOut(user_id=user_id, kind=kind) for kind in opted_out - before.opted_out)
    audit.record("update", actor=actor, object_type="user", object_id=user_id, changes={
        "reminder_opt_outs": [sorted(before.opted_out), sorted(opted_out)],
        "digest_time": [before.digest_time.strftime("%H:%M") if before.own_time else None,
                        pref.digest_time.strftime("%H:%M") if pref.digest_time else None]})
    db.session.commit()
    return preferences(user_id)
