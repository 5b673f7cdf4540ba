"""A local SMTP sink for bench/reminders.py, in a process of its own: it accepts every message (aiosmtpd, the server
the reminder tests use), keeps nothing, and writes one line per message to stdout: the time the DATA reply was given
(`time.time()`, comparable across the bench's processes) and the message's Message-ID, so the bench can count what
arrived, when, and whether anything came twice. It stops when its stdin is closed (or the bench ends it).

    python bench/smtp_sink.py PORT [RELAY_MS]

With RELAY_MS, each message's reply to DATA comes that many milliseconds late (each connection on its own, as a
relay that needs that long per message: a network round trip, writing its queue, a scan), so the bench can show
where sending stops depending on our code.
"""
import asyncio
import re
import sys
import time

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class Sink:
    def __init__(self, delay: float = 0.0):
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        content = envelope.original_content or envelope.content
        end = content.find(b"\r\n\r\n")
        found = MESSAGE_ID.search(content, 0, end if end >= 0 else len(content))
        sys.stdout.write(f"{time.time():.6f} {found.group(1).decode() if found else '-'}\n")
        sys.stdout.flush()
        return "250 Message accepted for delivery"


def main() -> None:
    relay_ms = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    controller = Controller(Sink(relay_ms / 1000), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the bench closes it
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
