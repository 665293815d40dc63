"""An HTML legend control: one ``<details>`` per layer, native keyboard support.

Entries follow the layer control: when a layer is switched off its legend entry is hidden.
All labels are escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from branca.element import MacroElement, Template
from markupsafe import Markup


@dataclass
class LegendEntry:
    """``items`` are (colour, label); ``kind`` is ``fill``, ``line`` or ``point``."""

    title: str
    items: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "fill"
    note: str = ""


def legend_html(entries: list[tuple[str, LegendEntry]], heading: str) -> str:
    """The legend body; ``entries`` are (layer JS name, entry)."""
    parts = [Markup("<h2 class='tk-legend-heading'>{}</h2>").format(heading)]
    for layer_name, entry in entries:
        items = Markup("").join(
            Markup(
                "<li><span class='tk-swatch tk-swatch-{}' data-sw='{}' aria-hidden='true'></span>{}</li>"
            ).format(entry.kind, colour, label)
            for colour, label in entry.items
        )
        note = (
            Markup("<p class='tk-legend-note'>{}</p>").format(entry.note)
            if entry.note
            else Markup("")
        )
        parts.append(
            Markup(
                "<details open data-layer='{}'><summary>{}</summary><ul>{}</ul>{}</details>"
            ).format(layer_name, entry.title, items, note)
        )
    return str(Markup("").join(parts))


class Legend(MacroElement):
    """A Leaflet control (bottom left) holding the legend of every layer on the map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var control = L.control({position: {{ this.position|tojson }}});
            control.onAdd = function () {
                var div = L.DomUtil.create('section', 'tk-legend leaflet-control');
                div.setAttribute('aria-label', {{ this.label|tojson }});
                div.innerHTML = {{ this.html|tojson }};
                // colours set through the CSSOM: the CSP refuses style="" attributes
                div.querySelectorAll('[data-sw]').forEach(function (s) {
                    s.style.setProperty('--sw', s.getAttribute('data-sw'));
                });
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            control.addTo(map);
            function sync() {
                control.getContainer().querySelectorAll('details[data-layer]').forEach(function (el) {
                    var layer = window[el.getAttribute('data-layer')];
                    el.hidden = !!layer && !map.hasLayer(layer);
                });
            }
            map.on('overlayadd overlayremove', sync);
            sync();
        })();
        {% endmacro %}
        """
    )

    def __init__(self, html: str, label: str, position: str = "bottomleft") -> None:
        super().__init__()
        self._name = "Legend"
        self.html = html
        self.label = label
        self.position = position
