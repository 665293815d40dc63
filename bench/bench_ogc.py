"""OGC API – Features items side by side: tryggkarta and pygeoapi on the same PostGIS rows.

``python bench/bench_ogc.py --rows 1000000`` prints a markdown section for bench/RESULTS.md.

**Like for like.** One database holds the incidents (the national synthetic data of
``bench_national.py``: ``--rows`` rows over ten years on the 290 municipalities, loaded into
``tk_bench_ogc`` by the store's bulk path; or ``--database-url`` of a database that is loaded
already, read only except for tryggkarta's audit log and one API token). Both servers read
the same partitioned ``incidents`` table: pygeoapi through its PostgreSQL provider
(``storage_crs`` EPSG:3006, features in CRS84, the same eight properties as ours), tryggkarta
through its own OGC endpoint with an API token (as QGIS would use it; every page is
audit-logged, as in production). Each runs as ``--workers`` gunicorn worker processes (2,
one per core here) with the same number of threads each (``--threads``, 8): tryggkarta
through ``tryggkarta serve --workers N --threads T``, pygeoapi's Flask app through
``gunicorn -k gthread -w N --threads T`` (``--workers 1`` serves both from one waitress
process instead). The load client is the same for both: ``--clients``
threads (8), each with its own keep-alive connection, asking ``/collections/incidents/items
?limit=100`` for ``--seconds`` (30) after a warm-up; p50/p99 latency and requests per second
over the run. The machine is shared by whatever else runs, so figures are comparable within
one run only.

**pygeoapi** pins its own Flask and pydantic, so it gets its own virtualenv
(``bench/.venv-pygeoapi``, git-ignored, created on first use with ``pip install pygeoapi``
and the provider's drivers). ``--baseline PATH`` also serves another tryggkarta checkout
(e.g. the main branch) for a before/after in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-pygeoapi"
PYGEOAPI_PACKAGES = [
    "pygeoapi", "psycopg2-binary", "geoalchemy2", "sqlalchemy", "waitress", "gunicorn",
]  # fmt: skip
PG_BASE = os.environ.get(
    "TRYGGKARTA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DBNAME = "tk_bench_ogc"
PROPERTIES = [
    "id",
    "occurred_at",
    "category",
    "subcategory",
    "description",
    "address",
    "reporter_org",
    "precision",
]


# --------------------------------------------------------------------------- the data


def database_url(name: str) -> str:
    return PG_BASE.rsplit("/", 1)[0] + "/" + name


def load(rows: int) -> str:
    """A fresh ``tk_bench_ogc`` with ``rows`` national incidents (bench_national's data)."""
    sys.path.insert(0, str(HERE))
    import bench_national as national
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DBNAME}"))
    admin.dispose()
    url = database_url(DBNAME)
    with admin_engine(url).begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    db = open_db(url)
    db.upgrade()
    db.dispose()
    table = national.generate(rows)
    national.run_import(url, table, "national")
    with admin_engine(url).connect() as conn:
        conn.execute(text("ANALYZE incidents"))
    return url


def admin_engine(url: str):  # noqa: ANN201
    from sqlalchemy import create_engine

    return create_engine(url, isolation_level="AUTOCOMMIT")


def open_db(url: str):  # noqa: ANN201
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    settings = load_settings(
        {
            "database_url": url,
            "instance_path": tempfile.mkdtemp(prefix="tk-bench-ogc-"),
            "secret_key": "bench",
            "region": "SE",
        }
    )
    return Database(settings)


def token_for(url: str) -> str:
    """An API token of a police analyst (created once per database)."""
    from tryggkarta.services.accounts import create_token, create_user
    from tryggkarta.store import User

    db = open_db(url)
    with db.session() as s:
        user = s.query(User).filter_by(username="bench_ogc").first()
        if user is None:
            user = create_user(s, "bench_ogc", secrets.token_urlsafe(16), "police")
        token = create_token(s, user, "bench_ogc", days=1)
    db.dispose()
    return token


# --------------------------------------------------------------------------- the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pygeoapi_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PYGEOAPI_PACKAGES], check=True)
    return python


def pygeoapi_config(url: str, port: int, folder: Path) -> tuple[Path, Path]:
    parts = urlsplit(url.replace("+psycopg", ""))
    config = f"""
    server:
      bind: {{host: 127.0.0.1, port: {port}}}
      url: http://127.0.0.1:{port}
      mimetype: application/json; charset=UTF-8
      encoding: utf-8
      language: en-US
      limits: {{default_items: 100, max_items: 10000}}
      map: {{url: 'https://tile.invalid/{{z}}/{{x}}/{{y}}.png', attribution: none}}
    logging:
      level: ERROR
    metadata:
      identification:
        title: bench
        description: bench
        keywords: [bench]
        keywords_type: theme
        terms_of_service: none
        url: http://127.0.0.1
      license: {{name: none, url: http://127.0.0.1}}
      provider: {{name: bench, url: http://127.0.0.1}}
      contact: {{name: bench}}
    resources:
      incidents:
        type: collection
        title: incidents
        description: incidents
        keywords: [incidents]
        extents:
          spatial: {{bbox: [10.0, 55.0, 25.0, 69.5], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}}
        providers:
          - type: feature
            name: PostgreSQL
            data:
              host: {parts.hostname}
              port: {parts.port or 5432}
              dbname: {parts.path.lstrip("/")}
              user: {parts.username or "postgres"}
              password: '{parts.password or ""}'
              search_path: [public]
            id_field: id
            table: incidents
            geom_field: geom
            storage_crs: http://www.opengis.net/def/crs/EPSG/0/3006
            properties: {json.dumps(PROPERTIES[1:])}
    """
    path = folder / "pygeoapi.yml"
    path.write_text(textwrap.dedent(config), encoding="utf-8")
    openapi = folder / "openapi.yml"
    return path, openapi


def start_pygeoapi(
    url: str, threads: int, folder: Path, workers: int = 1
) -> tuple[subprocess.Popen, int]:
    python = pygeoapi_python()
    port = free_port()
    config, openapi = pygeoapi_config(url, port, folder)
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [str(VENV / "bin" / "pygeoapi"), "openapi", "generate", str(config), "--output-file",
         str(openapi)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    if workers > 1:
        if not (VENV / "bin" / "gunicorn").exists():
            subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "gunicorn"], check=True)
        command = [
            str(VENV / "bin" / "gunicorn"), "-k", "gthread", "-w", str(workers), "--threads",
            str(threads), "-b", f"127.0.0.1:{port}", "--log-level", "error",
            "pygeoapi.flask_app:APP",
        ]  # fmt: skip
    else:
        command = [
            str(python), "-c", f"from waitress import serve; from pygeoapi.flask_app import APP; "
            f"serve(APP, host='127.0.0.1', port={port}, threads={threads}, _quiet=True)",
        ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, port


def start_tryggkarta(
    url: str, threads: int, folder: Path, checkout: Path = ROOT, workers: int = 1
) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "TRYGGKARTA_DATABASE_URL": url,
        "TRYGGKARTA_REGION": "SE",
        "TRYGGKARTA_SECRET_KEY": "bench-ogc",
        "TRYGGKARTA_INSTANCE_PATH": str(folder),
        "TRYGGKARTA_API_RATE_LIMIT": "1000000 per minute",  # pygeoapi has none
        "TRYGGKARTA_TILE_URL": "none",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tryggkarta.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), "--threads", str(threads), "--workers", str(workers)],
        env=env, cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    return proc, port


def wait_ready(port: int, path: str, headers: dict[str, str], proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-3000:] if proc.stderr else "died")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status == 200:
                doc = json.loads(body)
                if len(doc["features"]) != 100:
                    raise RuntimeError(f"expected 100 features, got {len(doc['features'])}")
                return
            raise RuntimeError(f"{response.status}: {body[:300]!r}")
        except (ConnectionError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"server on port {port} did not answer")


# --------------------------------------------------------------------------- the load


def load_run(port: int, path: str, headers: dict[str, str], clients: int, seconds: float) -> dict:
    """``clients`` threads asking ``path`` for ``seconds``; latencies and throughput."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (ConnectionError, OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                ok = False
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - began
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": errors[0],
        "p50_ms": statistics.median(latencies) * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "rps": n / took,
    }


def single(port: int, path: str, headers: dict[str, str], runs: int = 21) -> float:
    """p50 of one client's requests (ms), after one warm-up."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        times.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(times[1:]) * 1000


def measure(name: str, start, path: str, headers, args, folder: Path) -> dict:  # noqa: ANN001
    proc, port = start(folder)
    try:
        wait_ready(port, path, headers, proc)
        load_run(port, path, headers, args.clients, 3)  # warm-up
        out = {"name": name, "single_p50_ms": single(port, path, headers)}
        out.update(load_run(port, path, headers, args.clients, args.seconds))
        print(f"[bench_ogc] {name}: {json.dumps(out)}", file=sys.stderr, flush=True)
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def count_rows(url: str) -> int:
    from sqlalchemy import text

    engine = admin_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM incidents")).scalar_one())
    engine.dispose()
    return n


def report(rows: int, results: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "## OGC API items side by side: tryggkarta and pygeoapi",
        "",
        f"Rows: {rows:,} incidents (national synthetic data, partitioned by year) on PostGIS. "
        f"`GET /collections/incidents/items?limit=100`, {args.clients} clients with keep-alive "
        f"for {args.seconds:.0f} s after a 3 s warm-up; each server "
        + (
            f"{args.workers} gunicorn worker processes × {args.threads} threads"
            if args.workers > 1
            else f"one process under waitress with {args.threads} threads"
        )
        + ". One client: p50 of 20 requests. tryggkarta with an API "
        "token (audit-logged); pygeoapi's PostgreSQL provider, no auth. Measured on a shared "
        "2-core machine: compare within this table only.",
        "",
        "| server | one client p50 | p50 (8 clients) | p99 | req/s | requests | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['single_p50_ms']:.0f} ms | {r['p50_ms']:.0f} ms | "
            f"{r['p99_ms']:.0f} ms | {r['rps']:.1f} | {r['requests']} | {r['errors']} |"
        )
    lines += [
        "",
        "Why they differ: pygeoapi counts every matching row for `numberMatched` on every "
        "page (`count(*)` over all partitions) and pages with `OFFSET`; tryggkarta counts at "
        "most 10,000 rows (numberMatched is left out above that, as OGC allows), pages by key "
        "(`WHERE id > last ORDER BY id`, a merge of the partitions' primary-key indexes), "
        "keeps that capped count per data version (the pages of a walk do not count again) "
        "and writes the features from Arrow arrays with Arrow string kernels (no DataFrame, "
        "no dict per feature); the token's user is one statement and the audit row one "
        "INSERT, committed before the answer.",
        "",
        f"Command: `python bench/bench_ogc.py {' '.join(sys.argv[1:])}`",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="measure this loaded database instead")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for each server (default: one per core; 1 = waitress)",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline", type=Path, help="another tryggkarta checkout to serve too")
    parser.add_argument("--keep", action="store_true", help="keep tk_bench_ogc afterwards")
    args = parser.parse_args()
    url = args.database_url or load(args.rows)
    rows = count_rows(url)
    path = "/ogc/collections/incidents/items?limit=100"
    auth = {"Authorization": f"Bearer {token_for(url)}"}
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if args.baseline:
                results.append(
                    measure(
                        f"tryggkarta ({args.baseline.name}, before)",
                        lambda f: start_tryggkarta(
                            url, args.threads, f, args.baseline, args.workers
                        ),
                        path,
                        auth,
                        args,
                        folder,
                    )
                )
            results.append(
                measure(
                    "tryggkarta",
                    lambda f: start_tryggkarta(url, args.threads, f, workers=args.workers),
                    path,
                    auth,
                    args,
                    folder,
                )
            )
            results.append(
                measure(
                    "pygeoapi",
                    lambda f: start_pygeoapi(url, args.threads, f, args.workers),
                    "/collections/incidents/items?limit=100&f=json",
                    {},
                    args,
                    folder,
                )
            )
    finally:
        if not args.database_url and not args.keep:
            from sqlalchemy import text

            with admin_engine(PG_BASE).connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"))
    print(report(rows, results, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
