"""A real SMTP server (aiosmtpd) on a free loopback port that records what it accepts and can refuse on demand."""
import asyncio
import socket
import threading

import pytest
from aiosmtpd.controller import Controller

from crm.notifications import mail

from .helpers import parse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """What the SMTP server accepted, and how it should answer: `refuse` answers the next N messages with
    `refuse_reply` (451: try again later), `reject` refuses chosen recipients for good (550), `hang` never answers
    the next N messages' DATA (for `hang_seconds`, then 451), as a stuck server does (RM-9)."""

    def __init__(self):
        self.accepted: list[tuple[list[str], bytes]] = []
        #: the SMTP session (connection) each accepted message came in on, in order
        self.sessions: list[int] = []
        self.refuse = 0
        self.refuse_reply = "451 4.3.0 Try again later"
        self.reject: set[str] = set()
        self.hang = 0
        self.hang_seconds = 120.0
        self.lock = threading.Lock()
        # aiosmtpd looks the handler's attributes over on every connection: the hooks live on a plain object of
        # their own, so that the parsing properties below are not evaluated each time
        self.handler = _Hooks(self)

    @property
    def messages(self):
        with self.lock:
            return [parse(raw) for _rcpt, raw in self.accepted]

    def to(self, address: str):
        with self.lock:
            return [parse(raw) for rcpt, raw in self.accepted if address in rcpt]


class _Hooks:
    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.recorder.reject:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        recorder = self.recorder
        with recorder.lock:
            hang = recorder.hang > 0
            recorder.hang -= hang
        if hang:  # the client's time-out ends the wait; stopping the server cancels it
            await asyncio.sleep(recorder.hang_seconds)
            return "451 4.4.2 Timed out"
        with recorder.lock:
            if recorder.refuse > 0:
                recorder.refuse -= 1
                return recorder.refuse_reply
            recorder.accepted.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
            if not hasattr(session, "number"):  # numbered on its first message (an id() may be reused)
                session.number = len(set(recorder.sessions)) + 1
            recorder.sessions.append(session.number)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """The recorder, its host and port (for tests that configure another process)."""
    recorder = Recorder()
    controller = Controller(recorder.handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield recorder, controller.hostname, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp(app, monkeypatch, smtp_server):
    """The suite's app sends to the recording server; links point at https://crm.example.gov.cn."""
    recorder, host, port = smtp_server
    for key, value in {"MAIL_SERVER": host, "MAIL_PORT": port, "MAIL_USE_TLS": False, "MAIL_USE_SSL": False,
                       "MAIL_USERNAME": "", "MAIL_TIMEOUT": 5, "MAIL_DEFAULT_SENDER": "CRM <crm@example.gov.cn>",
                       "CRM_BASE_URL": "https://crm.example.gov.cn", "PUBLIC_BASE_URL": ""}.items():
        monkeypatch.setitem(app.config, key, value)
    yield recorder
    mail.close_connection()  # the connection this process keeps between messages
