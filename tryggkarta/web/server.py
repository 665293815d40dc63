"""How ``tryggkarta serve`` runs the app: one waitress process, or N gunicorn worker processes.

Why processes: Python runs one thread at a time per process (the GIL). In one waitress
process with 8 threads, a start page being built (folium, Jinja, JSON: pure Python) held the
GIL that ``/healthz`` and every cheap page needed, so under 8 clients ``/healthz`` took
0.8 s (bench/RESULTS.md). With N processes a long request or an import holds one worker's
GIL; the others answer.

* ``--workers 1`` (or a platform without ``fork``, or no gunicorn): waitress, as before.
* ``--workers N`` (default: the number of cores): gunicorn's ``gthread`` workers, each with
  ``--threads`` threads, its own app, its own database pool (``TRYGGKARTA_DB_POOL_SIZE``,
  default threads + 2 per worker) and its own caches. The app is created in each worker
  after the fork, so no database connection is shared between processes; the code is
  imported once in the master first, so workers start fast and share those pages of memory.

Caches stay right across processes without messages between them: every cache of derived
data (maps, releases, rendered public pages, counts) is keyed by the data version, which is
read from the database on each request (:func:`tryggkarta.store.queries.data_version`), so an
import made through any process (or the command line) is seen by every worker at once.

What is per process: the rate-limit counters when ``TRYGGKARTA_RATELIMIT_STORAGE`` is
``memory://`` (N workers allow up to N times the attempts: use Redis to share them), and the
number of password checks run at once (``TRYGGKARTA_PASSWORD_CHECKS``, set here so that all
workers together use about half the cores, as one process did).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any


def default_workers() -> int:
    """One worker per core (at least 1): the work is CPU-bound Python, one GIL per process."""
    return max(1, os.cpu_count() or 1)


def can_fork_workers() -> bool:
    """True when gunicorn can run here: a platform with ``fork`` and gunicorn installed."""
    if sys.platform == "win32" or not hasattr(os, "fork"):
        return False
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


def password_checks_per_worker(workers: int) -> int:
    """Password checks (argon2, 64 MiB and a core each) one worker runs at once, so that all
    workers together stay at about half the cores: a login flood cannot take every core."""
    return max(1, (os.cpu_count() or 2) // 2 // max(1, workers))


def preload() -> None:
    """Import what every request needs in the master, before the fork (shared, started once).

    Nothing here opens a database connection or starts a thread.
    """
    import importlib

    import folium  # noqa: F401
    import geopandas  # noqa: F401

    from tryggkarta.web import BLUEPRINTS

    for name in BLUEPRINTS:
        importlib.import_module(name)


def run_waitress(app: Any, host: str, port: int, threads: int, max_body: int) -> None:
    """One process, ``threads`` threads (``--workers 1`` and platforms without fork)."""
    from waitress import serve as waitress_serve

    waitress_serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="tryggkarta",
        max_request_body_size=max_body,
    )


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    """gunicorn settings for ``workers`` × ``threads``.

    ``timeout`` is gunicorn's heartbeat: a gthread worker beats from its main loop, so a long
    request in one of its threads does not get it killed (requests are bounded by the
    database limits instead). Keep-alive matches waitress's behaviour behind a proxy.
    """
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "bind": [bind],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "preload_app": False,  # the app (and its database pool) is made in each worker
        "proc_name": "tryggkarta",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }


def run_gunicorn(host: str, port: int, workers: int, threads: int) -> None:
    """``workers`` gunicorn processes of ``threads`` threads each; returns when stopped."""
    from gunicorn.app.base import BaseApplication

    options = gunicorn_options(host, port, workers, threads)

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            # runs in each worker after the fork: its own app, database pool and caches
            from tryggkarta.web import create_app

            return create_app()

    preload()
    gc.freeze()  # what the master imported stays out of every worker's collections
    Application().run()
