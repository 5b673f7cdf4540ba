"""E-mail out: the message (plain text and HTML), links that work outside the app, and delivery over SMTP, or into
instance/outbox/ as .eml files when no server is configured (`make run`)."""
import hashlib
import os
import smtplib
import tempfile
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
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
                  language: str, attachments: Sequence[Attachment] = ()) -> EmailMessage:
    """The e-mail: plain text and HTML as alternatives, and with `attachments` the two inside multipart/mixed with
    each file after them (a non-ASCII file name is encoded per RFC 2231)."""
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    message["To"] = Address(display_name=one_line(to_name), addr_spec=to_email)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    # RFC 3834: an automatic message, so that auto-replies (out of office) are not sent back to it
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    for filename, mime, content in attachments:
        maintype, _slash, subtype = mime.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=one_line(filename))
    # after the content and the files: set_content drops Content-*, and add_attachment moves them into the first part
    message["Content-Language"] = language.replace("_", "-")
    return message


def _sender_address() -> str:
    return parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]


def deliver(message: EmailMessage, to_email: str, *, outbox_name: str) -> None:
    """Hand the message to the SMTP server (raising on any failure, for the caller to retry), or, with no MAIL_SERVER,
    write it to instance/outbox/<outbox_name>.eml (rewritten, not doubled, when sent again)."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        write_outbox(message, outbox_name)
        return
    smtp_class = smtplib.SMTP_SSL if config.get("MAIL_USE_SSL") else smtplib.SMTP
    smtp = smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config.get("MAIL_TIMEOUT", 20))
    try:
        if config.get("MAIL_USE_TLS") and not config.get("MAIL_USE_SSL"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD", ""))
        smtp.send_message(message, from_addr=_sender_address(), to_addrs=[to_email])
    finally:
        # Once the server accepted the message, a failing QUIT must not count as a failed send (it would be resent).
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def outbox_dir() -> Path:
    return Path(current_app.instance_path) / "outbox"


def write_outbox(message: EmailMessage, name: str) -> Path:
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
