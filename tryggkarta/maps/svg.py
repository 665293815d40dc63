"""Small static maps and trend charts as server-side SVG (they print as they look on screen).

Pure: shapely geometries and numpy arrays in the working CRS (metres) in, escaped SVG markup
out — no Flask, no store, no JavaScript. Used by the weekly picture (an overview map, one
small map per hot spot, a sparkline of weekly counts per hot spot) and the hot-spot popups.

Every chart is ``role="img"`` with a ``<title>`` and a ``<desc>``; styles are presentation
attributes (the Content-Security-Policy allows no ``style=`` attribute).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from markupsafe import Markup, escape

from tryggkarta.maps import styles

INK = "#1b1f24"
AREA_STROKE = styles.AREA_COLOUR
HOT = "#a4161a"
CALM = "#1d4e89"
POINT = "#3d4752"


@dataclass(frozen=True)
class Frame:
    """A map window (working CRS, north up) drawn ``width`` pixels wide."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    width: float

    @classmethod
    def around(
        cls, bounds: Sequence[float], width: float, pad: float = 0.05, aspect: float | None = None
    ) -> Frame:
        """A window over ``bounds`` with ``pad`` (share of the size) on each side; with
        ``aspect`` (height / width) the window grows to that shape around its centre."""
        minx, miny, maxx, maxy = (float(v) for v in bounds)
        w, h = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        minx, maxx = minx - w * pad, maxx + w * pad
        miny, maxy = miny - h * pad, maxy + h * pad
        if aspect:
            w, h = maxx - minx, maxy - miny
            cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
            if h / w < aspect:
                h = w * aspect
            else:
                w = h / aspect
            minx, maxx, miny, maxy = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        return cls(minx, miny, maxx, maxy, float(width))

    @property
    def scale(self) -> float:
        """Pixels per metre."""
        return self.width / (self.maxx - self.minx)

    @property
    def height(self) -> float:
        return (self.maxy - self.miny) * self.scale

    @property
    def box(self) -> shapely.Polygon:
        return shapely.box(self.minx, self.miny, self.maxx, self.maxy)

    def px(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Screen coordinates of working-CRS ``x``/``y`` (arrays)."""
        s = self.scale
        return (np.asarray(x, float) - self.minx) * s, (self.maxy - np.asarray(y, float)) * s


def _pairs(px: np.ndarray, py: np.ndarray) -> str:
    """``"x,y x,y …"`` with one decimal (vectorised)."""
    if len(px) == 0:
        return ""
    xs = np.char.mod("%.1f", np.asarray(px, float))
    ys = np.char.mod("%.1f", np.asarray(py, float))
    return " ".join(np.char.add(np.char.add(xs, ","), ys).tolist())


def path_data(frame: Frame, geometry: shapely.Geometry | None) -> str:
    """SVG path data of a (multi)polygon or (multi)line clipped to ``frame``."""
    if geometry is None or geometry.is_empty:
        return ""
    clipped = shapely.intersection(geometry, frame.box)
    if clipped.is_empty:
        return ""
    parts = []
    for part in shapely.get_parts(clipped):
        if isinstance(part, shapely.Polygon):
            rings = [part.exterior, *part.interiors]
            close = "Z"
        elif isinstance(part, shapely.LineString | shapely.LinearRing):
            rings, close = [part], ""
        else:
            continue
        for ring in rings:
            xy = shapely.get_coordinates(ring)
            px, py = frame.px(xy[:, 0], xy[:, 1])
            parts.append(f"M{_pairs(px, py)}{close}")
    return " ".join(parts)


def dots_data(frame: Frame, x: np.ndarray, y: np.ndarray) -> str:
    """One zero-length segment per point inside ``frame`` (drawn as dots by a round cap)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = (x >= frame.minx) & (x <= frame.maxx) & (y >= frame.miny) & (y <= frame.maxy)
    px, py = frame.px(x[keep], y[keep])
    if not len(px):
        return ""
    xs, ys = np.char.mod("M%.1f", px), np.char.mod("%.1fh0", py)
    return "".join(np.char.add(np.char.add(xs, ","), ys).tolist())


def nice_length(metres: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``metres``."""
    if metres <= 0:
        return 0.0
    k = 10 ** math.floor(math.log10(metres))
    return float(max(m * k for m in (1, 2, 5) if m * k <= metres))


def _scale_bar(frame: Frame, lang: str) -> str:
    metres = nice_length((frame.maxx - frame.minx) / 4)
    if not metres:
        return ""
    length = metres * frame.scale
    y = frame.height - 6
    text = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    return (
        f'<g class="svg-scale"><path d="M6,{y - 4:.1f}v4h{length:.1f}v-4" fill="none" '
        f'stroke="{INK}" stroke-width="1.5"/>'
        f'<text x="{8 + length:.1f}" y="{y:.1f}" font-size="10" fill="{INK}" stroke="#fff" '
        f'stroke-width="3" paint-order="stroke">{text}</text></g>'
    )


@dataclass(frozen=True)
class Area:
    """An outline on a static map: districts (dashed) and the municipality (solid)."""

    geometry: shapely.Geometry
    name: str = ""
    municipality: bool = False


@dataclass(frozen=True)
class Marker:
    """A numbered hot spot on the overview map."""

    x: float
    y: float
    label: str
    hot: bool = True
    title: str = ""


@dataclass(frozen=True)
class Shape:
    """A filled shape: a hot spot's cells on its small map."""

    geometry: shapely.Geometry
    colour: str = HOT
    fill_opacity: float = 0.25
    dash: str | None = None
    #: Outline colour when it differs from the fill (pale cells need a darker edge).
    stroke: str | None = None
    stroke_width: float = 1.5


@dataclass(frozen=True)
class Dots:
    """Points drawn in one colour (raw detail only: the caller decides who gets them)."""

    x: np.ndarray
    y: np.ndarray
    colour: str = POINT
    size: float = 4.0


def static_map(
    frame: Frame,
    *,
    title: str,
    desc: str,
    ident: str,
    areas: Sequence[Area] = (),
    shapes: Sequence[Shape] = (),
    points: tuple[np.ndarray, np.ndarray] | None = None,
    markers: Sequence[Marker] = (),
    dots: Sequence[Dots] = (),
    labels: bool = True,
    lang: str = "sv",
    css_class: str = "static-map",
) -> Markup:
    """A north-up map of ``frame``: outlines, shapes, dots and numbered markers, a scale bar."""
    w, h = frame.width, frame.height
    out = [
        f'<svg class="{escape(css_class)}" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" '
        f'height="{h:.0f}" role="img" aria-labelledby="{escape(ident)}-t {escape(ident)}-d" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(ident)}-t">{escape(title)}</title>',
        f'<desc id="{escape(ident)}-d">{escape(desc)}</desc>',
        f'<rect width="{w:.0f}" height="{h:.0f}" fill="#f6f4ee"/>',
    ]
    names = []
    for area in areas:
        d = path_data(frame, area.geometry)
        if d:
            dash = "" if area.municipality else ' stroke-dasharray="4 3"'
            width = 2 if area.municipality else 1
            out.append(
                f'<path d="{d}" fill="none" stroke="{AREA_STROKE}" stroke-width="{width}"{dash}/>'
            )
        if labels and area.name and not area.municipality:
            inner = area.geometry.intersection(frame.box)
            if not inner.is_empty and inner.area > 0.04 * (frame.maxx - frame.minx) ** 2:
                p = shapely.point_on_surface(inner)
                px, py = frame.px(np.array([p.x]), np.array([p.y]))
                names.append((float(px[0]), float(py[0]), area.name))
    for shape in shapes:
        d = path_data(frame, shape.geometry)
        if d:
            dash = f' stroke-dasharray="{escape(shape.dash)}"' if shape.dash else ""
            fill = (
                f'fill="{escape(shape.colour)}" fill-opacity="{shape.fill_opacity:.2f}"'
                if shape.fill_opacity > 0
                else 'fill="none"'  # an open line must not be filled as if it were closed
            )
            out.append(
                f'<path d="{d}" {fill} fill-rule="evenodd" '
                f'stroke="{escape(shape.stroke or shape.colour)}" '
                f'stroke-width="{shape.stroke_width:g}"{dash}/>'
            )
    if points is not None:
        d = dots_data(frame, *points)
        if d:
            out.append(
                f'<path d="{d}" stroke="{POINT}" stroke-width="4" stroke-linecap="round" '
                'stroke-opacity=".85" fill="none"/>'
            )
    for dot in dots:
        d = dots_data(frame, dot.x, dot.y)
        if d:
            out.append(
                f'<path d="{d}" stroke="{escape(dot.colour)}" stroke-width="{dot.size:g}" '
                'stroke-linecap="round" stroke-opacity=".9" fill="none"/>'
            )
    for x, y, name in names:
        out.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="11" font-weight="600" '
            f'fill="{INK}" stroke="#fff" stroke-width="3" paint-order="stroke">{escape(name)}</text>'
        )
    if markers:
        mx, my = frame.px(np.array([m.x for m in markers]), np.array([m.y for m in markers]))
        for m, x, y in zip(markers, mx.tolist(), my.tolist(), strict=True):
            colour = HOT if m.hot else CALM
            out.append(
                f"<g><title>{escape(m.title or m.label)}</title>"
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{colour}" stroke="#fff" '
                f'stroke-width="2"/><text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
                f'font-size="11" font-weight="700" fill="#fff">{escape(m.label)}</text></g>'
            )
    out.append(_scale_bar(frame, lang))
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped


def swatch(
    kind: str, colour: str, *, dash: str | None = None, fill_opacity: float = 0.35
) -> Markup:
    """A 16×16 legend symbol matching what :func:`static_map` draws: ``fill`` (a shape),
    ``line`` (an outline), ``dot`` (points) or ``marker`` (a numbered circle). Presentation
    attributes only (the CSP allows no ``style=``); hidden from screen readers (the legend's
    text says it)."""
    c = escape(colour)
    dash_attr = f' stroke-dasharray="{escape(dash)}"' if dash else ""
    if kind == "fill":
        body = (
            f'<rect x="1.5" y="1.5" width="13" height="13" fill="{c}" '
            f'fill-opacity="{fill_opacity:.2f}" stroke="{c}" stroke-width="1.5"{dash_attr}/>'
        )
    elif kind == "line":
        body = f'<path d="M1,8H15" stroke="{c}" stroke-width="2.5" fill="none"{dash_attr}/>'
    elif kind == "dot":
        body = f'<circle cx="8" cy="8" r="3" fill="{c}"/>'
    else:
        body = f'<circle cx="8" cy="8" r="6.5" fill="{c}" stroke="#fff" stroke-width="1.5"/>'
    return Markup(  # noqa: S704 - colour and dash escaped, the rest is fixed markup
        '<svg class="swatch" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def sparkline(
    values: Sequence[float],
    *,
    title: str,
    desc: str,
    ident: str,
    width: int = 120,
    height: int = 28,
    colour: str = HOT,
) -> Markup:
    """A small line of weekly counts (oldest first), the last point marked."""
    v = np.asarray(values, float)
    out = [
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{escape(ident)}-t {escape(ident)}-d" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(ident)}-t">{escape(title)}</title>',
        f'<desc id="{escape(ident)}-d">{escape(desc)}</desc>',
    ]
    if len(v):
        top = max(float(v.max()), 1.0)
        pad = 3.0
        xs = pad + np.arange(len(v)) * ((width - 2 * pad) / max(len(v) - 1, 1))
        ys = height - pad - v / top * (height - 2 * pad)
        out.append(
            f'<path d="M{pad:.1f},{height - pad:.1f}H{width - pad:.1f}" stroke="#c9d1d9" '
            'stroke-width="1"/>'
        )
        out.append(
            f'<polyline points="{_pairs(xs, ys)}" fill="none" stroke="{colour}" '
            'stroke-width="1.5" stroke-linejoin="round"/>'
        )
        out.append(f'<circle cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="2.5" fill="{colour}"/>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
