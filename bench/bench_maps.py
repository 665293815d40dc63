"""Map scale benchmark: 1M synthetic incidents in SQLite, the start page vs a plain folium HeatMap.

Measures (goals in brackets): start-page HTML size (<= 1 MB) and server build time
(<= 0.5 s; with the per-(filters, role, data version) layer cache warm, and cold), first render in headless Chromium (load + layers drawn <= 2 s), a bbox GeoJSON
request of <= 5,000 raw features (server time <= 100 ms); and a folium ``HeatMap`` of the
same 1M points (HTML size, build time); the hotspot layers the page loads on demand from
``/api/hotspots/<method>`` (first call includes the analysis, later ones hit ``analysis_runs``).
The store is generated once into ``bench/out/``.
Prints a markdown table. ``python bench/bench_maps.py [--n 1000000]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out"
TOWN = (408_672.0, 6_472_746.0)


def make_store(n: int) -> Path:
    """A SQLite store with ``n`` clustered incidents around a town (cached)."""
    from tryggkarta.config import load_settings
    from tryggkarta.store import Database

    path = OUT / f"bench_maps_{n}.db"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = Database(
        load_settings(
            {"database_url": f"sqlite:///{tmp}", "instance_path": str(OUT), "secret_key": "b"}
        )
    )
    db.upgrade()
    fill(db, n)
    db.engine.dispose()
    shutil.move(tmp, path)
    return path


def fill(db, n: int) -> None:  # noqa: ANN001 - a tryggkarta Database
    """Load ``n`` clustered incidents (40 clusters around TOWN, two years) into ``db``:
    the same rows on any engine (seeded)."""
    import geopandas as gpd

    from tryggkarta.domain import INCIDENT_CATEGORIES
    from tryggkarta.store import Dataset, insert_layer

    rng = np.random.default_rng(1)
    centres = rng.normal(0, 2500, size=(40, 2))
    cats = np.array(list(INCIDENT_CATEGORIES))
    t_end = datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    chunk = 100_000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        which = rng.integers(0, len(centres), m)
        xy = centres[which] + rng.normal(0, 300, size=(m, 2)) + TOWN
        when = pd.to_datetime(t_end - rng.uniform(0, 2 * 365 * 86400, m), unit="s", utc=True)
        frame = gpd.GeoDataFrame(
            {
                "occurred_at": when,
                "category": cats[rng.integers(0, len(cats), m)],
                "description": "syntetisk",
                "dedup_key": [f"b{start + i}" for i in range(m)],
            },
            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
            crs=3006,
        )
        with db.session() as s:
            ds = Dataset(
                layer="incidents", name=f"bench {start}", source="bench", checksum=f"b{start}"
            )
            s.add(ds)
            s.flush()
            insert_layer(s, "incidents", frame, ds.id)


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    from werkzeug.serving import make_server

    from tryggkarta.services import accounts
    from tryggkarta.web import create_app

    db_path = make_store(args.n)
    app = create_app(
        {
            "database_url": f"sqlite:///{db_path}",
            "instance_path": str(OUT),
            "secret_key": "b",
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )
    db = app.extensions["tryggkarta.db"]
    with db.session() as s:
        user = accounts.authenticate(s, "bench", "bench-password-123") or accounts.create_user(
            s, "bench", "bench-password-123", "police", organisation="Bench"
        )
        s.flush()
        token = accounts.create_token(s, user, "bench")
    client = app.test_client()
    import gc

    from tryggkarta.web import mapview, pagecache

    gc.freeze()  # as `tryggkarta serve` does before serving

    page = "/?layers=incidents,survey,projects,areas"
    client.get(
        page
    )  # warm imports, connections, SQLite page cache (not our layer cache: cleared below)

    def cold_page():
        mapview._CACHE.clear()
        pagecache.clear()
        return client.get(page)

    def built_page(url: str = page):  # layers cached, the page itself built again
        pagecache.clear()
        return client.get(url)

    cold_t, _cold = timed(cold_page)
    page_t, resp = timed(built_page)
    kept_t, _kept = timed(lambda: client.get(page), repeat=5)
    html_size = len(resp.data)
    mapview._CACHE.clear()
    pagecache.clear()
    full_cold_t, _ = timed(lambda: client.get("/"), repeat=1)
    full_t, full = timed(lambda: built_page("/"), repeat=3)
    hot = {}
    from sqlalchemy import delete

    from tryggkarta.store.models import AnalysisRun

    with db.session() as s:  # the store file is kept between runs: its cached results are not
        s.execute(delete(AnalysisRun).where(AnalysisRun.method.in_(("gistar", "kde", "emerging"))))
    for method in ("gistar", "kde", "emerging"):
        t_first, r = timed(lambda m=method: client.get(f"/api/hotspots/{m}"), repeat=1)  # noqa: B023
        t_warm, r = timed(lambda m=method: client.get(f"/api/hotspots/{m}"), repeat=3)  # noqa: B023
        hot[method] = (len(r.data), len(r.get_json()["features"]), t_first, t_warm)
    bbox = "13.40,58.37,13.44,58.39"
    headers = {"Authorization": f"Bearer {token}"}
    api_t, api = timed(
        lambda: client.get(
            f"/api/layers/incidents/features?bbox={bbox}&limit=5000", headers=headers
        ),
        repeat=5,
    )
    n_api = api.get_json()["numberReturned"]

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    render_t = min(browser_render(f"http://127.0.0.1:{srv.server_port}{page}") for _ in range(3))
    srv.shutdown()

    heat_t, heat_size = heatmap(db, args.n)
    rows = [
        ("start page (public, 4 layers): HTML size", f"{html_size / 1e6:.2f} MB", "<= 1 MB"),
        (
            "start page: server build time, cached layers (median of 3)",
            f"{page_t:.3f} s",
            "<= 0.5 s",
        ),
        (
            "start page for a visitor, from the rendered-page cache (median of 5)",
            f"{kept_t * 1000:.1f} ms",
            "-",
        ),
        (
            "start page: server build time, cold (layer cache cleared; median of 3)",
            f"{cold_t:.2f} s",
            "(<= 0.5 s)",
        ),
        (
            "start page with hotspot layers (loaded on demand): size / cold / cached",
            f"{len(full.data) / 1e6:.2f} MB / {full_cold_t:.2f} s / {full_t:.3f} s",
            "-",
        ),
        *[
            (
                f"hotspot layer {m} via /api/hotspots (on switch-on): size, features / first call (computed) / cached",
                f"{size / 1e6:.2f} MB, {n:,} / {t1:.2f} s / {t2:.2f} s",
                "-",
            )
            for m, (size, n, t1, t2) in hot.items()
        ],
        (
            "first render in Chromium, tiles blocked (load + layers drawn; best of 3)",
            f"{render_t:.2f} s",
            "<= 2 s",
        ),
        (
            f"bbox GeoJSON, {n_api} raw features: server time (median of 5)",
            f"{api_t * 1000:.0f} ms",
            "<= 100 ms",
        ),
        ("plain folium HeatMap of all points: HTML size", f"{heat_size / 1e6:.1f} MB", "(peer)"),
        ("plain folium HeatMap of all points: build time", f"{heat_t:.2f} s", "(peer)"),
    ]
    print(f"\n### Maps, {args.n:,} incidents (SQLite)\n")
    print("| measure | result | goal |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def browser_render(url: str) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = b.new_page(viewport={"width": 1280, "height": 800})
        page.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url else r.abort())
        t0 = time.perf_counter()
        page.goto(url, wait_until="load")
        page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive")
        elapsed = time.perf_counter() - t0
        b.close()
    return elapsed


def heatmap(db, n: int) -> tuple[float, int]:
    import folium
    from folium.plugins import HeatMap

    from tryggkarta.geo import to_wgs84
    from tryggkarta.store import layer_frame

    t0 = time.perf_counter()
    frame = layer_frame(db, "incidents", columns=["x", "y"], geometry=False)
    lon, lat = to_wgs84(frame["x"].to_numpy(), frame["y"].to_numpy(), db.srid)
    m = folium.Map(location=[58.39, 13.44], zoom_start=12)
    HeatMap(np.column_stack([lat, lon]).tolist()).add_to(m)
    html = m.get_root().render()
    return time.perf_counter() - t0, len(html.encode())


if __name__ == "__main__":
    main()
