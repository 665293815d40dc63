"""Folium map builders: layers, styles, legends, and self-hosted Leaflet assets.

Pure functions: GeoDataFrames/FeatureCollections and labels in, folium objects out. The web
layer (``tryggkarta.web.mapview``) queries the store and calls these.
"""

from tryggkarta.maps.builders import (
    areas,
    incident_cell_tiles,
    incident_cells,
    incident_points,
    incident_tiles,
    lazy_survey_pins,
    projects,
    survey_cells,
    survey_pins,
)
from tryggkarta.maps.hotspots import hotspot_layer, lazy_hotspot_layer
from tryggkarta.maps.layers import MapLayer
from tryggkarta.maps.page import MapParts, build_map, render_parts

__all__ = [
    "MapLayer",
    "MapParts",
    "areas",
    "build_map",
    "hotspot_layer",
    "incident_cell_tiles",
    "incident_cells",
    "incident_points",
    "incident_tiles",
    "lazy_hotspot_layer",
    "lazy_survey_pins",
    "projects",
    "render_parts",
    "survey_cells",
    "survey_pins",
]
