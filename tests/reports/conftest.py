"""The reports' tests use the notifications' recording SMTP server (aiosmtpd) for the Friday e-mail."""
from ..notifications.conftest import smtp, smtp_server  # noqa: F401
