"""A bounded HTTP load client: a fixed number of requests per URL over N concurrent connections.

Each connection is a thread with its own `http.client` connection (re-opened when the server closes it, as
gunicorn's sync workers do after every response). Latency is measured from sending the request to having read the
whole body. Every response must be 200, or the run fails: a timed redirect to /login would be a lie.

`timed_moves` times stage moves (POST /projects/<id>/move, as the board's drag and drop sends them): each
connection moves its own project back and forth between two stages, sending the CSRF token and the version the
previous answer returned, so every move is a real one (a stale version would be a 409 and fail the run).

    python bench/load.py http://127.0.0.1:5082/hello http://127.0.0.1:5082/rows --requests 100 --runs 3
"""
import argparse
import http.client
import json
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


class LoadError(RuntimeError):
    pass


@dataclass
class Client:
    """A cookie-carrying client for one origin; each thread makes its own connection from it."""

    base: str
    cookies: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.base)
        return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=120)

    def request(self, conn, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        headers = dict(headers or {})
        with self.lock:
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionError, http.client.HTTPException):
            conn.close()  # the server closed a kept connection: retry once on a new one
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            with self.lock:
                for key, morsel in jar.items():
                    cleared = morsel["max-age"] == "0" or morsel["expires"].startswith("Thu, 01 Jan 1970")
                    if morsel.value and not cleared:
                        self.cookies[key] = morsel.value
                    else:
                        self.cookies.pop(key, None)
        if resp.will_close:
            conn.close()
        return resp.status, dict(resp.headers), data


def sign_in(base: str, email: str, password: str) -> Client:
    """GET /login, take its CSRF token, POST the form; the client then carries the session cookie."""
    client = Client(base)
    conn = client.connect()
    status, _, page = client.request(conn, "GET", "/login")
    match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(rb'value="([^"]+)"[^>]*name="csrf_token"', page)
    if status != 200 or not match:
        raise LoadError(f"GET /login gave {status} without a csrf_token")
    form = urlencode({"csrf_token": match.group(1).decode(), "email": email, "password": password, "next": ""})
    status, headers, _ = client.request(conn, "POST", "/login", form.encode(),
                                        {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 302:
        raise LoadError(f"POST /login gave {status}, not a redirect: wrong password or throttled?")
    status, _, _ = client.request(conn, "GET", "/profile")
    if status != 200:
        raise LoadError(f"signed in, but /profile gave {status}")
    conn.close()
    return client


def csrf_token(client: Client, path: str = "/profile") -> str:
    """The CSRF token of the signed-in session (every page carries it in <meta name="csrf-token">)."""
    conn = client.connect()
    try:
        status, _, page = client.request(conn, "GET", path)
    finally:
        conn.close()
    match = re.search(rb'name="csrf-token" content="([^"]+)"', page)
    if status != 200 or not match:
        raise LoadError(f"GET {path} gave {status} without a csrf-token meta tag")
    return match.group(1).decode()


def timed_moves(client: Client, projects: list[dict], stages: tuple[str, str], *, token: str, filters: str = "",
                requests: int = 100, warmup: int = 4) -> list[float]:
    """Latencies in ms of `requests` stage moves, one connection per project (`{"id", "stage", "version"}`, updated
    in place), each project alternating between the two stages."""
    times: list[float] = []
    errors: list[str] = []
    counter = iter(range(warmup + requests))
    take = threading.Lock()

    def worker(project: dict):
        conn = client.connect()
        try:
            while True:
                with take:
                    n = next(counter, None)
                if n is None or errors:
                    return
                to_stage = stages[1] if project["stage"] == stages[0] else stages[0]
                body = urlencode({"csrf_token": token, "stage": to_stage, "from_stage": project["stage"],
                                  "version": project["version"], "filters": filters}).encode()
                headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": token,
                           "Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
                path = f"/projects/{project['id']}/move"
                start = time.perf_counter()
                status, _, data = client.request(conn, "POST", path, body, headers)
                elapsed = (time.perf_counter() - start) * 1000
                if status != 200:
                    errors.append(f"POST {path} gave {status}: {data[:300]!r}")
                    return
                reply = json.loads(data)
                project["stage"], project["version"] = reply["stage"], reply["version"]
                if project["stage"] != to_stage:
                    errors.append(f"POST {path}: the project is at {project['stage']}, not {to_stage}")
                elif n >= warmup:
                    times.append(elapsed)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in projects]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LoadError(errors[0])
    return times


def timed(client: Client, path: str, *, requests: int = 100, connections: int = 2, warmup: int = 4) -> list[float]:
    """Latencies in ms of `requests` GETs of `path` spread over `connections` threads (after a few untimed ones)."""
    times: list[float] = []
    errors: list[str] = []
    counter = iter(range(warmup + requests))
    take = threading.Lock()

    def worker():
        conn = client.connect()
        try:
            while True:
                with take:
                    n = next(counter, None)
                if n is None or errors:
                    return
                start = time.perf_counter()
                status, _, body = client.request(conn, "GET", path)
                elapsed = (time.perf_counter() - start) * 1000
                if status != 200:
                    errors.append(f"{path} gave {status}: {body[:200]!r}")
                elif n >= warmup:
                    times.append(elapsed)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise LoadError(errors[0])
    return times


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 100 samples is the 95th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), percentile(values, 95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for url in args.urls:
        parts = urlsplit(url)
        client = Client(f"{parts.scheme}://{parts.netloc}")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        runs = [summary(timed(client, path, requests=args.requests, connections=args.connections))
                for _ in range(args.runs)]
        med = statistics.median(r[0] for r in runs)
        p95 = statistics.median(r[1] for r in runs)
        print(f"{url}: median {med:.1f} ms, p95 {p95:.1f} ms (medians of {args.runs} runs)")


if __name__ == "__main__":
    main()
