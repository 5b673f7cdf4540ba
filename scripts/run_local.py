"""Start the web app (gunicorn), a Celery worker and the beat scheduler together; Ctrl-C stops all three.

Used by `make run`. With REDIS_URL unset the broker is a folder under instance/ (kombu's filesystem transport), so
nothing but this repository is needed.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from config import INSTANCE_DIR  # noqa: E402


def main() -> int:
    for folder in ("broker", "broker-done"):
        (INSTANCE_DIR / folder).mkdir(parents=True, exist_ok=True)
    host = os.environ.get("CRM_HOST", "127.0.0.1")
    port = os.environ.get("CRM_PORT", "5000")
    commands = {
        "web": [str(BIN / "gunicorn"), "-w", "2", "--threads", "4", "-b", f"{host}:{port}", "--access-logfile", "-",
                "wsgi:app"],
        "worker": [str(BIN / "celery"), "-A", "worker", "worker", "--loglevel=info", "--concurrency=1",
                   "--without-gossip", "--without-mingle", "-B", "--schedule",
                   str(INSTANCE_DIR / "celerybeat-schedule")],
    }
    procs = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in commands.items()}
    print(f"\n  Web app: http://{host}:{port}/   (worker and scheduler running; Ctrl-C stops everything)\n",
          flush=True)

    def stop(*_):
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.time() + 10
        for proc in procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
        if failed:
            print(f"stopped because {', '.join(failed)} exited", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
