"""`tryggkarta serve --workers N`: gunicorn worker processes that stay right and answer.

Real servers in subprocesses, on both engines: an import made through one worker changes
what the other worker serves at once (every cache is keyed by the data version read from the
database, not told by messages), and /healthz answers while a request waits on a lock.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tryggkarta.config import load_settings
from tryggkarta.store import Database
from tryggkarta.web import server

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "ingest"
pytestmark = [
    pytest.mark.skipif(not server.can_fork_workers(), reason="gunicorn needs fork"),
    pytest.mark.xdist_group("serve_workers"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request, tmp_path) -> tuple[str, str]:  # noqa: ANN001
    """(database URL, police API token) of a fresh store at the newest schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'serve.db'}"
    else:
        url = request.getfixturevalue("scratch_database")("cli")
    db = Database(load_settings({"database_url": url, "instance_path": str(tmp_path)}))
    db.upgrade()
    from tryggkarta.services import accounts

    with db.session() as s:
        user = accounts.create_user(s, "polis", "a-long-password-1", "police", organisation="P")
        s.flush()
        token = accounts.create_token(s, user, "serve test")
    db.dispose()
    return url, token


class Served:
    """A running `tryggkarta serve` and what to ask it."""

    def __init__(self, proc: subprocess.Popen, port: int, token: str) -> None:
        self.proc, self.port, self.token = proc, port, token

    def connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.connect()
        return conn

    def workers(self, expected: int = 0, wait: float = 60.0) -> list[int]:
        """The worker processes; with ``expected``, waits until that many run (the first
        worker answers /healthz while the second may still be booting on a busy machine)."""
        deadline = time.time() + wait
        while True:
            out = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
            ).stdout
            pids = [int(p) for p in out.split()]
            if len(pids) >= expected or time.time() > deadline:
                return pids
            time.sleep(0.2)

    def worker_of(self, conn: http.client.HTTPConnection) -> int | None:
        """The worker process holding the server side of ``conn`` (from /proc)."""
        client_port = conn.sock.getsockname()[1]
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (
                    int(local.rsplit(":", 1)[1], 16) == self.port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    inodes.add(fields[9])
        for pid in self.workers():
            try:
                links = {os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()}
            except OSError:
                continue
            if any(f"socket:[{inode}]" in links for inode in inodes):
                return pid
        return None


def get(conn: http.client.HTTPConnection, path: str, token: str | None = None) -> tuple:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.getheader("ETag"), resp.read()


def import_file(conn: http.client.HTTPConnection, token: str, path: Path) -> dict:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    conn.request(
        "POST",
        "/api/import/incidents",
        body=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    resp = conn.getresponse()
    report = json.loads(resp.read())
    assert resp.status == 200, report
    return report


@pytest.fixture
def serve(store, tmp_path) -> Iterator:  # noqa: ANN001
    url, token = store
    started: list[subprocess.Popen] = []

    def start(*args: str, **env: str) -> Served:
        port = _free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "tryggkarta.cli", "serve", "--port", str(port), *args],
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "TRYGGKARTA_DATABASE_URL": url,
                "TRYGGKARTA_INSTANCE_PATH": str(tmp_path),
                "TRYGGKARTA_SECRET_KEY": "serve-test",
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        started.append(proc)
        served = Served(proc, port, token)
        deadline = time.time() + 90
        while True:
            try:
                conn = served.connect()
                if get(conn, "/healthz")[0] == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise AssertionError("server did not start: " + proc.communicate()[1][-2000:])
            time.sleep(0.2)
        return served

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _one_connection_per_worker(served: Served, n: int = 2) -> dict[int, http.client.HTTPConnection]:
    """Keep-alive connections, one held by each of ``n`` workers (a connection stays with the
    worker that accepted it)."""
    held: dict[int, http.client.HTTPConnection] = {}
    for _ in range(60):
        conn = served.connect()
        assert get(conn, "/healthz")[0] == 200
        pid = served.worker_of(conn)
        if pid is not None and pid not in held:
            held[pid] = conn
        else:
            conn.close()
        if len(held) == n:
            return held
    raise AssertionError(f"connections reached only workers {sorted(held)}")


def _matched(conn: http.client.HTTPConnection, token: str) -> int:
    status, _etag, body = get(conn, "/ogc/collections/incidents/items?limit=1", token)
    assert status == 200, body[:300]
    return json.loads(body)["numberMatched"]


def test_an_import_through_one_worker_is_seen_by_the_other(serve) -> None:
    served = serve("--workers", "2", "--threads", "2")
    assert len(served.workers(expected=2)) == 2
    (pid_a, via_a), (pid_b, via_b) = _one_connection_per_worker(served).items()
    first = import_file(via_a, served.token, DATA / "polisen_dump_a.json")["rows_imported"]
    assert first > 0
    # both workers build and keep the public start page and the count for this data version
    before = {}
    for conn in (via_a, via_b):
        status, etag, page = get(conn, "/")
        assert status == 200 and etag and b"<html" in page
        assert get(conn, "/")[1] == etag  # kept: the same page again
        assert _matched(conn, served.token) == first
        before[conn] = etag
    assert before[via_a] == before[via_b]  # the same page in both processes
    second = import_file(via_a, served.token, DATA / "polisen_dump_b.json")["rows_imported"]
    assert second > 0
    # worker B made neither the import nor the new page: it sees both at its next request
    assert served.worker_of(via_b) == pid_b and served.worker_of(via_a) == pid_a
    for conn in (via_b, via_a):
        status, etag, _page = get(conn, "/")
        assert status == 200 and etag != before[conn]
        assert _matched(conn, served.token) == first + second
    for conn in (via_a, via_b):
        conn.close()


def test_healthz_answers_while_a_request_waits_on_a_lock(serve, store) -> None:
    """One request held by a locked table for the lock-wait limit; /healthz meanwhile."""
    url, token = store
    served = serve("--workers", "2", "--threads", "2", TRYGGKARTA_LOCK_TIMEOUT_S="4")
    locker = Database(load_settings({"database_url": url}))
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with locker.engine.begin() as conn:
            if locker.is_postgis:
                conn.exec_driver_sql("LOCK TABLE datasets, audit_log IN ACCESS EXCLUSIVE MODE")
            else:  # SQLite: readers go on (WAL), every write waits
                conn.exec_driver_sql("DELETE FROM audit_log WHERE id < 0")
            held.set()
            release.wait(30)

    blocked: dict[str, float] = {}

    def slow_request() -> None:
        started = time.perf_counter()
        conn = served.connect()
        # a police token's raw items: read the datasets, write an audit row
        status = get(conn, "/ogc/collections/incidents/items?limit=5", token)[0]
        blocked["s"], blocked["status"] = time.perf_counter() - started, status
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        waiter = threading.Thread(target=slow_request)
        waiter.start()
        time.sleep(0.5)
        for _ in range(5):
            started = time.perf_counter()
            conn = served.connect()
            status, _etag, body = get(conn, "/healthz")
            conn.close()
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert time.perf_counter() - started < 1.5
            assert waiter.is_alive()  # the slow request is still waiting meanwhile
            time.sleep(0.3)
        waiter.join(30)
    finally:
        release.set()
        holder.join()
        locker.dispose()
    assert blocked["status"] == 503 and blocked["s"] >= 3.5  # bounded by the lock-wait limit


def test_the_worker_line_and_options(runner) -> None:  # noqa: ANN001
    from tryggkarta.cli import _worker_line, main

    assert _worker_line(1, 8, "memory://") == "  1 process (waitress), 8 threads"
    line = _worker_line(3, 4, "memory://")
    assert "3 worker processes (gunicorn), 4 threads each" in line and "per process" in line
    assert "per process" not in _worker_line(3, 4, "redis://cache:6379")
    options = server.gunicorn_options("0.0.0.0", 8000, 3, 4)
    assert options["bind"] == ["0.0.0.0:8000"] and options["worker_class"] == "gthread"
    assert options["workers"] == 3 and options["threads"] == 4 and not options["preload_app"]
    assert server.gunicorn_options("::1", 8000, 2, 2)["bind"] == ["[::1]:8000"]
    assert server.default_workers() == max(1, os.cpu_count() or 1)
    assert server.password_checks_per_worker(64) == 1
    bad = runner.invoke(main, ["serve", "--workers", "0", "--check-only"])
    assert bad.exit_code == 2 and "--workers" in bad.output
    assert runner.invoke(main, ["serve", "--workers", "x"]).exit_code == 2
    port = _free_port()
    assert (
        runner.invoke(
            main, ["serve", "--port", str(port), "--workers", "4", "--check-only"]
        ).exit_code
        == 0
    )
