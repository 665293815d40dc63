"""Leftovers of imports: staging files of killed imports and previews nobody confirmed.

* A streamed SQLite import stages its rows in ``.tk-stage-<host>-<pid>-<random>.db`` next to
  the database (:class:`tryggkarta.store.bulk.SqliteStage`); it is removed when the import's
  transaction ends, but an import killed with ``kill -9`` leaves it (87–179 MB each). A
  staging file is stale when its process is gone (same host) or, whatever its owner, when it
  has not been written to for :data:`STAGE_MAX_AGE_S`.
* An uploaded file waits in ``<instance>/uploads/<token>.*`` between preview and confirm; an
  unconfirmed preview expires after ``Settings.import_preview_hours`` (24 h by default).

Both sweeps run on app and CLI start, before each import, and on a timer in the web app
(:func:`maybe_sweep`); ``tryggkarta import cleanup`` runs them from cron.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

#: Staging files untouched for this long are removed even if a process of that id runs
#: (process ids are reused; an import writes its stage continuously).
STAGE_MAX_AGE_S = 6 * 3600
#: How often the web app sweeps at most (seconds).
SWEEP_EVERY_S = 600
STAGE_PREFIX = ".tk-stage-"
_STAGE = re.compile(r"^\.tk-stage-(?:(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-)?[^/]*\.db")
_TOKEN = re.compile(r"^(?P<token>[0-9a-f]{32})\.")
_last_sweep: dict[str, float] = {}
_lock = threading.Lock()


def host_tag() -> str:
    """This machine's name as it appears in staging file names (safe characters only)."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"


def stage_prefix() -> str:
    """The prefix of this process's staging files: ``.tk-stage-<host>-<pid>-``."""
    return f"{STAGE_PREFIX}{host_tag()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def stale_stage(path: Path, now: float | None = None) -> bool:
    """Whether a staging file (or its journal) belongs to no running import."""
    match = _STAGE.match(path.name)
    if match is None:
        return False
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > STAGE_MAX_AGE_S:
        return True
    pid = match.group("pid")
    if pid is None or match.group("host") != host_tag():
        return False  # an old-style name or another machine: only the age decides
    return int(pid) != os.getpid() and not _alive(int(pid))


def clean_stale_stages(folder: str | Path | None) -> list[Path]:
    """Remove the stale staging files in ``folder`` (default: the temp folder); the removed."""
    root = Path(folder) if folder else Path(tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for path in root.glob(STAGE_PREFIX + "*"):
            if stale_stage(path):
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed.append(path)
    return removed


def expire_previews(uploads: str | Path, max_age_hours: float) -> list[str]:
    """Delete uploads waiting for a confirmation longer than ``max_age_hours``; the tokens."""
    folder = Path(uploads)
    if not folder.is_dir():
        return []
    cutoff = time.time() - max_age_hours * 3600
    newest: dict[str, float] = {}
    files: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        match = _TOKEN.match(path.name)
        if match is None or not path.is_file():
            continue
        token = match.group("token")
        files.setdefault(token, []).append(path)
        with contextlib.suppress(FileNotFoundError):
            newest[token] = max(newest.get(token, 0.0), path.stat().st_mtime)
    expired = [t for t, m in newest.items() if m < cutoff]
    for token in expired:
        for path in files[token]:
            path.unlink(missing_ok=True)
    return expired


def sqlite_folder(db: Any) -> str | None:
    """The folder of the SQLite database file (where its staging files go), None otherwise."""
    if getattr(db, "is_postgis", False):
        return None
    database = getattr(getattr(db, "engine", None), "url", None)
    path = getattr(database, "database", None)
    if not path or path == ":memory:":
        return None
    return str(Path(path).resolve().parent)


def sweep(db: Any, settings: Any = None) -> dict[str, int]:
    """Both sweeps for one installation: stale staging files and expired previews."""
    settings = settings or getattr(db, "settings", None)
    stages = clean_stale_stages(sqlite_folder(db)) if db is not None else []
    stages += clean_stale_stages(None)  # a database without a folder stages in the temp folder
    previews: list[str] = []
    if settings is not None:
        uploads = Path(settings.instance_path).resolve() / "uploads"
        previews = expire_previews(uploads, float(settings.import_preview_hours))
    _last_sweep[str(getattr(settings, "instance_path", ""))] = time.monotonic()
    return {"staging_files": len(stages), "previews": len(previews)}


def maybe_sweep(db: Any, settings: Any) -> bool:
    """:func:`sweep` at most every :data:`SWEEP_EVERY_S` seconds per instance (the web timer).

    ``db`` may be a callable giving the database (only called when a sweep is due).
    """
    key = str(settings.instance_path)
    with _lock:
        last = _last_sweep.get(key)
        if last is not None and time.monotonic() - last < SWEEP_EVERY_S:
            return False
        _last_sweep[key] = time.monotonic()
    sweep(db() if callable(db) else db, settings)
    return True
