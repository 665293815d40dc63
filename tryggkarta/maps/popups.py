"""Popup HTML for map features. Every value from data is HTML-escaped here.

Popups are plain HTML strings (bound with Leaflet's ``bindPopup``); the one rule is that no
text from a file, a form or the database reaches them unescaped — district names, project
names, survey comments and incident descriptions may contain anything, ``<script>`` included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

WEEKDAYS_SV = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def rows(items: Iterable[tuple[str, object]]) -> Markup:
    """A two-column definition table; labels and values escaped."""
    body = Markup("").join(
        Markup("<tr><th scope='row'>{}</th><td>{}</td></tr>").format(label, value)
        for label, value in items
        if value is not None and value != ""
    )
    return Markup("<table class='tk-popup-table'>{}</table>").format(body)


def bullet_list(items: Sequence[str]) -> Markup:
    if not items:
        return Markup("")
    return Markup("<ul>{}</ul>").format(
        Markup("").join(Markup("<li>{}</li>").format(i) for i in items)
    )


def profile_svg(profile: Sequence[Sequence[float]], lang: str = "sv", title: str = "") -> Markup:
    """An hour x weekday heat chart (7 rows Mon..Sun, 24 columns) as a small inline SVG."""
    if not profile or len(profile) != 7 or any(len(r) != 24 for r in profile):
        return Markup("")
    peak = max((float(v) for r in profile for v in r), default=0.0) or 1.0
    cw, ch, left, top = 9, 9, 26, 4
    days = WEEKDAYS_EN if lang == "en" else WEEKDAYS_SV
    parts = [
        Markup(
            "<svg class='tk-profile' role='img' width='{}' height='{}' viewBox='0 0 {} {}'>"
        ).format(left + 24 * cw + 2, top + 7 * ch + 14, left + 24 * cw + 2, top + 7 * ch + 14),
        Markup("<title>{}</title>").format(title),
    ]
    for d, row in enumerate(profile):
        y = top + d * ch
        parts.append(Markup("<text x='0' y='{}' font-size='8'>{}</text>").format(y + 7, days[d]))
        for h, value in enumerate(row):
            share = max(0.0, float(value)) / peak
            if share <= 0:
                continue
            parts.append(
                Markup(
                    "<rect x='{}' y='{}' width='{}' height='{}' fill='#bd0026' fill-opacity='{:.2f}'/>"
                ).format(left + h * cw, y, cw - 1, ch - 1, 0.12 + 0.88 * share)
            )
    for h in (0, 6, 12, 18):
        parts.append(
            Markup("<text x='{}' y='{}' font-size='8'>{}</text>").format(
                left + h * cw, top + 7 * ch + 10, f"{h:02d}"
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def popup(title: str, table: Markup, *sections: tuple[str, Markup]) -> str:
    """The popup: an escaped heading, a table, then titled sections (already Markup)."""
    html = Markup("<div class='tk-popup'><h3>{}</h3>{}").format(title, table)
    for heading, content in sections:
        if content:
            html += Markup("<h4>{}</h4>{}").format(heading, content)
    return str(html + Markup("</div>"))


def text(value: object) -> str:
    """Escaped text as a plain string (for tooltips)."""
    return str(escape("" if value is None else value))
