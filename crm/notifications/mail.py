"""E-mail out: the message (plain text and HTML), links that work outside the app, and delivery over SMTP, or into
instance/outbox/ as .eml files when no server is configured (`make run`)."""
import hashlib
import os
import smtplib
import tempfile
import threading
import time
from collections.abc import Sequence
from email import encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app

from crm.core.timeutil import utcnow


def base_url() -> str:
    """The canonical address of the app: e-mails have no request, and a request's Host header is never trusted for
    links that leave the app (IV-7)."""
    return current_app.config.get("PUBLIC_BASE_URL") or current_app.config["CRM_BASE_URL"]


def absolute_url(endpoint: str, **values) -> str:
    parts = urlsplit(base_url())
    adapter = current_app.url_map.bind(parts.netloc, script_name=parts.path.rstrip("/") or "/",
                                       url_scheme=parts.scheme or "https")
    return adapter.build(endpoint, values, force_external=True)


def message_id_for(key: str) -> str:
    """A Message-ID derived from the notification's unique key: every copy of one reminder carries the same one, so a
    duplicate after a crash is recognisable (and mail clients may fold it)."""
    host = urlsplit(base_url()).hostname or "crm.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{host}>"


def one_line(value: str) -> str:
    """Header text on one line: a CR or LF from a record's name must not start a header of its own (IV-4)."""
    return " ".join(value.split())


#: a file sent with an e-mail: (file name, MIME type such as "application/pdf", content)
Attachment = tuple[str, str, bytes]


def build_message(*, to_name: str, to_email: str, subject: str, text: str, html: str, message_id: str,
                  language: str, attachments: Sequence[Attachment] = ()) -> Message:
    """The e-mail: plain text and HTML as alternatives, and with `attachments` the two inside multipart/mixed with
    each file after them (a non-ASCII file name is encoded per RFC 2231).

    Built with the email package's classic classes (`email.mime`): the same MIME as `EmailMessage` gives, in a third
    of its time (its header objects are parsed and folded afresh for every message, about 4 ms of a send)."""
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(text, "plain", "utf-8"))
    body.attach(MIMEText(html, "html", "utf-8"))
    if attachments:
        message = MIMEMultipart("mixed")
        message.attach(body)
        for filename, mime, content in attachments:
            maintype, _slash, subtype = mime.partition("/")
            part = MIMEBase(maintype, subtype)
            part.set_payload(content)
            encoders.encode_base64(part)
            name = one_line(filename)
            part.add_header("Content-Disposition", "attachment",
                            filename=name if name.isascii() else ("utf-8", "", name))
            message.attach(part)
    else:
        message = body
    message["Subject"] = _header(one_line(subject))
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = formataddr((one_line(to_name), to_email), charset="utf-8")
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    # RFC 3834: an automatic message, so that auto-replies (out of office) are not sent back to it
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = language.replace("_", "-")
    return message


def _header(value: str) -> str | Header:
    return value if value.isascii() else Header(value, "utf-8")


#: how a message is written for SMTP: CRLF line ends, headers as built
SMTP_POLICY = compat32.clone(linesep="\r\n")


def as_smtp_bytes(message: Message) -> bytes:
    return message.as_bytes(policy=SMTP_POLICY)


def _sender_address() -> str:
    return parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]


#: a connection idle longer than this is closed and opened again rather than reused (servers drop idle clients;
#: postfix after 300 s, some relays after 60)
KEEP_IDLE_SECONDS = 30.0


class _Held(threading.local):
    """This thread's open SMTP connection, kept between messages: a worker process sends one e-mail after another,
    and a connection per message costs a connect, EHLO and QUIT, and with a real relay a TLS handshake and a login
    as well."""
    smtp: smtplib.SMTP | None = None
    settings: tuple = ()
    last_used: float = 0.0


_held = _Held()


def _settings(config, timeout: float | None = None) -> tuple:
    return (config["MAIL_SERVER"], config["MAIL_PORT"], bool(config.get("MAIL_USE_SSL")),
            bool(config.get("MAIL_USE_TLS")), config.get("MAIL_USERNAME") or "", config.get("MAIL_PASSWORD") or "",
            timeout or config.get("MAIL_TIMEOUT", 20))


def _connect(settings: tuple) -> smtplib.SMTP:
    server, port, use_ssl, use_tls, username, password, timeout = settings
    smtp = (smtplib.SMTP_SSL if use_ssl else smtplib.SMTP)(server, port, timeout=timeout)
    try:
        if use_tls and not use_ssl:
            smtp.starttls()
        if username:
            smtp.login(username, password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def close_connection() -> None:
    """Say goodbye to the held connection, if any. Once a server accepted a message, a failing QUIT changes nothing."""
    smtp, _held.smtp = _held.smtp, None
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _connection(settings: tuple) -> tuple[smtplib.SMTP, bool]:
    """The held connection when it is for these settings and was used recently, else a new one; and whether it
    was reused."""
    if _held.smtp is not None and (_held.settings != settings
                                   or time.monotonic() - _held.last_used > KEEP_IDLE_SECONDS):
        close_connection()
    if _held.smtp is not None:
        return _held.smtp, True
    _held.smtp, _held.settings = _connect(settings), settings
    return _held.smtp, False


def deliver(message: Message, to_email: str, *, outbox_name: str, timeout: float | None = None,
            keep: bool = True) -> None:
    """Hand the message to the SMTP server (raising on any failure, for the caller to retry), or, with no MAIL_SERVER,
    write it to instance/outbox/<outbox_name>.eml (rewritten, not doubled, when sent again).

    The connection stays open for the next message (`KEEP_IDLE_SECONDS`), unless `keep` is false (a web request's
    one e-mail: closed at once). A reused connection that the server closed meanwhile fails at its first command,
    before any message was given: it is opened again and the message sent once more on the new one. After any other
    failure the connection is dropped, so the next try starts afresh. `timeout` overrides MAIL_TIMEOUT."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        write_outbox(message, outbox_name)
        return
    settings = _settings(config, timeout)
    data = as_smtp_bytes(message)
    sender = _sender_address()
    smtp, reused = _connection(settings)
    try:
        try:
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
        except (smtplib.SMTPServerDisconnected, OSError):
            if not reused:
                raise
            close_connection()  # closed by the server while idle: nothing was handed over yet
            smtp, _reused = _connection(settings)
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
        # one recipient: smtplib's sendmail, step by step
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = smtp.rcpt(to_email)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({to_email: (code, reply)})
        code, reply = smtp.data(data)
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    except BaseException:
        close_connection()
        raise
    _held.last_used = time.monotonic()
    if not keep:
        close_connection()


def outbox_dir() -> Path:
    return Path(current_app.instance_path) / "outbox"


def write_outbox(message: Message, name: str) -> Path:
    folder = outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    # written whole, then renamed: a reader never sees half a message
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(message.as_bytes())
    os.replace(tmp, path)
    return path


def is_permanent(exc: BaseException) -> bool:
    """A 5xx reply (the mailbox does not exist, the message is refused): trying again gives the same answer. 4xx
    replies, refused connections and time-outs are temporary."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def describe_error(exc: BaseException) -> str:
    """A failed send as people read it (a reminder's last error, a test e-mail's answer): the server's code and
    words, or what went wrong on the way to it."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address}: {code} {_text(reply)}" for address, (code, reply) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
