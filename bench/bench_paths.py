"""The paths users wait on (issue 16, point 5): cold start page, import memory, load.

    python bench/bench_paths.py [--sizes 100000,1000000] [--seconds 60] [--import-sizes ...]

1. **Cold start page** (public, `/`) on SQLite stores of each size (bench_maps' generator: 40
   clusters, two years): the incident release counted by scanning the incidents (before)
   against reading ``incident_cell_counts`` (after), both caches cleared, median of 5, in one
   process; plus the public OGC cell collection (``incident_cells``, limit 100) cold.
2. **Import memory**: a streamed CSV import (``import_file``, bench_ingest's generator) in a
   fresh interpreter per size; peak RSS (ru_maxrss) and wall time.
3. **Load**: ``tryggkarta serve`` on the largest store, SQLite and PostGIS (its own database
   ``tk_paths_<n>``, same rows), waitress in one process against N gunicorn workers in the
   same run; 8 keep-alive client connections for ``--seconds`` on the public start page and
   ``/publik`` (the issue's target), then cycling over every path (the start page for the
   public and for the police, ``/publik``, the public cell collection and OGC raw incident
   items, limit 100, police token); req/s, p50, p99, errors per path, and ``/healthz`` probed
   once a second meanwhile.

Prints a markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))


def store(n: int) -> Path:
    import bench_maps

    bench_maps.OUT = OUT
    return bench_maps.make_store(n)


def _app(path: Path):
    from tryggkarta.web import create_app

    return create_app(
        {
            "database_url": f"sqlite:///{path}",
            "instance_path": str(OUT),
            "secret_key": "b",
            "TESTING": True,
        }
    )


def cold_page(n: int, repeat: int = 5) -> dict:
    """Cold start page and cold public cell collection, scan vs kept counts."""
    import functools

    from tryggkarta import disclosure
    from tryggkarta.web import mapview, pagecache

    path = store(n)
    app = _app(path)
    client = app.test_client()
    client.get("/")  # imports, connections, SQLite page cache warm
    real = disclosure.incident_release
    out: dict = {"n": n}
    for mode in ("scan", "counts"):
        disclosure.incident_release = functools.partial(real, from_counts=mode == "counts")
        try:
            for name, url in (("page", "/"), ("ogc", "/ogc/collections/incident_cells/items")):
                times = []
                for _ in range(repeat):
                    mapview._CACHE.clear()
                    disclosure._CACHE.clear()
                    pagecache.clear()
                    t0 = time.perf_counter()
                    resp = client.get(url)
                    times.append(time.perf_counter() - t0)
                    assert resp.status_code == 200, (url, resp.status_code)
                out[f"{name}_{mode}"] = statistics.median(times)
                out[f"{name}_size"] = len(resp.data)
        finally:
            disclosure.incident_release = real
    import sqlite3

    with sqlite3.connect(path) as conn:
        out["count_rows"] = conn.execute("SELECT count(*) FROM incident_cell_counts").fetchone()[0]
    app.extensions["tryggkarta.db"].dispose()
    return out


IMPORT_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {here!r})
from pathlib import Path
from tryggkarta.config import load_settings
from tryggkarta.ingest import import_file
from tryggkarta.store import Database
db = Database(load_settings({{"database_url": {url!r}, "instance_path": {tmp!r}}}))
db.upgrade()
t0 = time.perf_counter()
report = import_file(db, "incidents", Path({csv!r}))
took = time.perf_counter() - t0
print(json.dumps({{"s": took, "rows": report.rows_imported,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def import_memory(n: int) -> dict:
    import bench_ingest

    csv = OUT / f"paths_import_{n}.csv"
    if not csv.exists():
        bench_ingest.make_csv(csv, n)
    target = OUT / f"paths_import_{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    code = IMPORT_CHILD.format(
        here=str(HERE), url=f"sqlite:///{target}", tmp=str(OUT), csv=str(csv)
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HERE.parent
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    target.unlink(missing_ok=True)
    return {"n": n, **result}


PG_BASE = os.environ.get(
    "TRYGGKARTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pg_store(n: int) -> str:
    """A PostGIS database ``tk_paths_<n>`` with bench_maps' ``n`` incidents (made once, kept;
    its own, so the load test's users, tokens and audit rows go nowhere else)."""
    import bench_maps
    from sqlalchemy import create_engine, text

    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    name = f"tk_paths_{n}"
    url = PG_BASE.rsplit("/", 1)[0] + "/" + name
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
    if exists:
        probe = create_engine(url)
        try:
            with probe.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM incidents")).scalar() == n:
                    return url
        except Exception:  # noqa: BLE001 - a half-made database is made again
            pass
        finally:
            probe.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    probe = create_engine(url)
    with probe.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    probe.dispose()
    db = Database(
        load_settings({"database_url": url, "instance_path": str(OUT), "secret_key": "b"})
    )
    db.upgrade()
    bench_maps.fill(db, n)
    db.dispose()
    return url


def _token(url: str) -> str:
    from tryggkarta.config import load_settings
    from tryggkarta.services import accounts
    from tryggkarta.store import Database

    db = Database(
        load_settings({"database_url": url, "instance_path": str(OUT), "secret_key": "b"})
    )
    with db.session() as s:
        user = accounts.authenticate(s, "bench", "bench-password-123") or accounts.create_user(
            s, "bench", "bench-password-123", "police", organisation="Bench"
        )
        s.flush()
        token = accounts.create_token(s, user, "bench-paths")
    db.dispose()
    return token


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, url: str, headers: dict, timeout: float = 300) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", url, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def load_paths(token: str) -> list[tuple[str, str, dict]]:
    police = {"Authorization": f"Bearer {token}"}
    return [
        ("start page (public)", "/", {}),
        ("start page (police, token)", "/", police),
        ("public page /publik", "/publik", {}),
        (
            "public cell collection, limit 100",
            "/ogc/collections/incident_cells/items?limit=100",
            {},
        ),
        ("OGC raw incident items, limit 100", "/ogc/collections/incidents/items?limit=100", police),
    ]


def load_test(
    url: str,
    seconds: float,
    workers: int,
    clients: int = 8,
    threads: int = 8,
    only=None,  # noqa: ANN001
    env_extra: dict[str, str] | None = None,
) -> dict:
    """``tryggkarta serve --workers N --threads 8`` on ``url``; ``clients`` keep-alive
    connections cycling over the paths for ``seconds``; ``/healthz`` probed once a second.

    ``env_extra`` sets more of the server's environment (a national database needs
    ``TRYGGKARTA_REGION=SE``). Writes one police user ``bench`` and an API token into the
    database, and the server writes audit rows for the police requests."""
    token = _token(url)
    port = _free_port()
    OUT.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TRYGGKARTA_DATABASE_URL": url,
        "TRYGGKARTA_INSTANCE_PATH": str(OUT),
        "TRYGGKARTA_SECRET_KEY": "b",
        "TRYGGKARTA_API_RATE_LIMIT": "1000000 per minute",
        **(env_extra or {}),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tryggkarta.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=HERE.parent,
    )
    paths = [p for p in load_paths(token) if only is None or p[0] in only]
    try:
        deadline = time.time() + 120
        while True:
            try:
                if _get(port, "/healthz", {}, timeout=5) == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start: " + server.stderr.read().decode()[-2000:])
            time.sleep(0.3)
        # warm every worker: each path from `clients` fresh connections at once, twice (a
        # worker's first request builds its releases and pages once; the others wait for it)
        warm_started = time.perf_counter()
        for _ in range(2):
            for _name, path, headers in paths:
                warmers = [
                    threading.Thread(target=_get, args=(port, path, headers))
                    for _ in range(clients)
                ]
                for t in warmers:
                    t.start()
                for t in warmers:
                    t.join()
        warm_s = time.perf_counter() - warm_started
        results: dict[str, list[tuple[float, bool]]] = {name: [] for name, _, _ in paths}
        health: list[float] = []
        stop = time.perf_counter() + seconds
        lock = threading.Lock()

        def client(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            k = i
            while time.perf_counter() < stop:
                name, path, headers = paths[k % len(paths)]
                k += 1
                t0 = time.perf_counter()
                ok = False
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    ok = resp.status == 200
                    if resp.will_close:
                        conn.close()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                with lock:
                    results[name].append((time.perf_counter() - t0, ok))

        def prober() -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    _get(port, "/healthz", {}, timeout=60)
                except OSError:
                    pass
                health.append(time.perf_counter() - t0)
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

        started = time.perf_counter()
        pool = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        pool.append(threading.Thread(target=prober))
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        took = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)

    def summary(rows: list[tuple[float, bool]]) -> dict:
        lat = sorted(r[0] for r in rows)
        return {
            "requests": len(rows),
            "rps": len(rows) / took,
            "p50": lat[len(lat) // 2] if lat else float("nan"),
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
            "errors": sum(1 for r in rows if not r[1]),
        }

    out = {name: summary(rows) for name, rows in results.items()}
    out["all"] = summary([r for rows in results.values() for r in rows])
    out["healthz"] = {"max": max(health), "p50": statistics.median(health), "n": len(health)}
    out["warm_s"] = warm_s
    return out


#: The issue's load target at national scale: the public start page, /publik and the police
#: start page (8 clients, 60 s: ≥ 50 req/s, p99 ≤ 1 s, no errors).
NATIONAL_PATHS = {"start page (public)", "public page /publik", "start page (police, token)"}


def print_load(title: str, runs: list[tuple[str, dict]]) -> None:
    print(f"{title}\n")
    print(
        "| server | path | requests | req/s | p50 | p99 | errors |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    )
    for label, r in runs:
        for name, v in r.items():
            if name in ("healthz", "warm_s"):
                continue
            print(
                f"| {label} | {name} | {v['requests']:,} | {v['rps']:.1f} | {v['p50'] * 1000:.0f} ms "
                f"| {v['p99'] * 1000:.0f} ms | {v['errors']} |"
            )
    print()
    for label, r in runs:
        h = r["healthz"]
        print(
            f"- {label}: `/healthz` probed once a second during the load: p50 "
            f"{h['p50'] * 1000:.0f} ms, max {h['max'] * 1000:.0f} ms ({h['n']} probes); "
            f"warming every worker took {r['warm_s']:.0f} s."
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--import-sizes", default="100000,1000000")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--skip", default="", help="comma-separated: page,import,load")
    parser.add_argument("--load-engines", default="sqlite,postgis")
    parser.add_argument("--load-scenarios", default="public,every", help="public,every")
    parser.add_argument("--workers", type=int, default=0, help="N for the worker runs (cores)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    skip = set(args.skip.split(","))
    print("\n## The paths users wait on (issue 16.5)\n")
    if "page" not in skip:
        print("### Cold start page and public cell collection: scan vs kept cell counts (SQLite)\n")
        print(
            "| incidents | count rows kept | start page cold: scan | start page cold: counts | "
            "HTML | public cells (OGC) cold: scan | public cells cold: counts |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            r = cold_page(n)
            print(
                f"| {n:,} | {r['count_rows']:,} | {r['page_scan']:.2f} s | {r['page_counts']:.2f} s "
                f"| {r['page_size'] / 1e6:.2f} MB | {r['ogc_scan']:.2f} s | {r['ogc_counts']:.2f} s |"
            )
        print(
            "\nCold = the page's and the releases' caches cleared in a warm process; median of 5. "
            "Scan = the same code with `incident_release(from_counts=False)`.\n"
        )
    if "import" not in skip:
        print("### Streamed CSV import: peak memory (SQLite, fresh interpreter per file)\n")
        print("| rows | time | rows/s | peak RSS |\n|---:|---:|---:|---:|")
        for n in [int(s) for s in args.import_sizes.split(",") if s]:
            r = import_memory(n)
            print(f"| {n:,} | {r['s']:.1f} s | {r['rows'] / r['s']:,.0f} | {r['peak_mb']:.0f} MB |")
        print()
    if "load" not in skip:
        n = max(sizes)
        engines = [e for e in args.load_engines.split(",") if e]
        workers = args.workers or os.cpu_count() or 1
        servers = [
            ("waitress, 1 process × 8 threads", 1),
            (f"{workers} workers × 8 threads", workers),
        ]
        for engine in engines:
            url = f"sqlite:///{store(n)}" if engine == "sqlite" else pg_store(n)
            label = "SQLite" if engine == "sqlite" else "PostGIS"
            scenarios = (
                ("start page (public) and /publik", {"start page (public)", "public page /publik"}),
                ("every path", None),
            )
            wanted = set(args.load_scenarios.split(","))
            for scenario, only in [
                sc for sc in scenarios if ("public" if sc[1] else "every") in wanted
            ]:
                runs = [(name, load_test(url, args.seconds, w, only=only)) for name, w in servers]
                print_load(
                    f"### Load, {label}, {n:,} incidents: 8 connections for {args.seconds:.0f} s "
                    f"on {scenario}",
                    runs,
                )
        print(
            "Each run: `tryggkarta serve --workers N --threads 8` in its own process, warmed "
            "(every path from 8 fresh connections, twice), then 8 keep-alive client connections "
            "cycling over the paths, each waiting for its answer; errors = anything but 200. The "
            "public pages come from the rendered-page cache, the police start page's map from the "
            "per-rights cache with the page around it rendered per request "
            "(tryggkarta/web/pagecache.py); one police token, so every police request after the "
            "warm-up hits that cache. The client runs on the same cores as the server.\n"
        )


if __name__ == "__main__":
    main()
