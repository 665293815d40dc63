"""Does a password-guessing flood slow the public pages? (issue #10 item 5)

Serves the demo database with ``tryggkarta serve`` (waitress, 8 threads) on 127.0.0.1, times
``/publik`` alone, then while ``--threads`` clients post wrong passwords to ``/login`` for
``--seconds`` (each client first fetches the login page for its CSRF token, as a browser
would). All traffic stays on 127.0.0.1; every loop is bounded in count and time.

    python bench/bench_login_flood.py [--threads 16] [--seconds 15] [--same-user]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_page(url: str, n: int) -> list[float]:
    out = []
    with requests.Session() as s:
        for _ in range(n):
            t0 = time.perf_counter()
            s.get(url, timeout=60)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def attacker(base: str, stop: float, counts: dict, same_user: bool, i: int) -> None:
    with requests.Session() as s:
        n = 0
        while time.monotonic() < stop and n < 10_000:
            n += 1
            page = s.get(base + "/login", timeout=60).text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            user = "polis" if same_user else f"guess{i}_{n}"
            r = s.post(
                base + "/login",
                data={"username": user, "password": f"wrong{n}", "csrf_token": token[1]},
                allow_redirects=False,
                timeout=60,
            )
            counts[r.status_code] = counts.get(r.status_code, 0) + 1


def attack(base: str, seconds: float, threads: int, same_user: bool, out) -> None:
    """The flood, in its own process: its threads do not take the timer's interpreter lock."""
    counts: dict[int, int] = {}
    stop = time.monotonic() + seconds
    workers = [
        threading.Thread(target=attacker, args=(base, stop, counts, same_user, i))
        for i in range(threads)
    ]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put(counts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--same-user", action="store_true", help="guess one user's password")
    ap.add_argument("--root", default=str(ROOT), help="checkout to serve (e.g. an older one)")
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="tk-flood-"))
    env = {
        **os.environ,
        "TRYGGKARTA_DATABASE_URL": f"sqlite:///{folder / 'tk.db'}",
        "TRYGGKARTA_INSTANCE_PATH": str(folder),
        "PYTHONPATH": args.root,
    }
    cli = [sys.executable, "-m", "tryggkarta.cli"]
    subprocess.run([*cli, "demo"], env=env, cwd=args.root, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        cwd=args.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        time_page(base + "/publik", 3)  # warm up
        quiet = time_page(base + "/publik", 20)
        import multiprocessing

        results = multiprocessing.Queue()
        stop = time.monotonic() + args.seconds
        flood = multiprocessing.Process(
            target=attack, args=(base, args.seconds, args.threads, args.same_user, results)
        )
        flood.start()
        time.sleep(2)  # let the flood build up
        loaded = []
        while time.monotonic() < stop - 0.5:
            loaded += time_page(base + "/publik", 1)
        counts = results.get(timeout=120)
        flood.join(30)
        print(
            f"/publik alone: median {statistics.median(quiet):.0f} ms; "
            f"under {args.threads} guessing threads: median {statistics.median(loaded):.0f} ms, "
            f"max {max(loaded):.0f} ms over {len(loaded)} requests; "
            f"login answers {dict(sorted(counts.items()))}"
        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
