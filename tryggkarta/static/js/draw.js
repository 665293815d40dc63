/* Draw a planning project's area with Leaflet-Geoman (npm, served by the app itself).
 * The drawn polygons go into a hidden form field as GeoJSON (WGS84); the server checks them
 * again (crossing edges, too many corners, outside the municipality). No external requests. */
(function (global) {
  "use strict";

  function drawProject(mapId, fieldId, statusId, opts) {
    var box = document.getElementById(mapId);
    var field = document.getElementById(fieldId);
    var status = document.getElementById(statusId);
    if (!box || !field || !global.L) { return null; }
    var max = Number(box.getAttribute("data-max-vertices")) || 2000;
    var labels = opts.labels || {};
    var map = L.map(box, {zoomControl: true});
    if (global.tryggkartaPage) { global.tryggkartaPage.background(map, opts.background); }
    L.control.scale({metric: true, imperial: false}).addTo(map);
    var context = L.geoJSON(opts.areas || null, {
      pmIgnore: true,
      interactive: false,
      style: function (f) {
        var muni = (f.properties || {}).kind === "municipality";
        return {color: muni ? "#222" : "#777", weight: muni ? 2.5 : 1, fill: false, dashArray: muni ? null : "4 4"};
      }
    }).addTo(map);
    var drawn = L.featureGroup().addTo(map);

    function vertices(geojson) {
      var n = 0;
      (geojson.features || []).forEach(function (f) {
        var g = f.geometry || {};
        var polys = g.type === "Polygon" ? [g.coordinates] : (g.type === "MultiPolygon" ? g.coordinates : []);
        polys.forEach(function (p) { p.forEach(function (ring) { n += Math.max(ring.length - 1, 0); }); });
      });
      return n;
    }

    function update() {
      var layers = drawn.getLayers().filter(function (l) { return map.hasLayer(l); });
      if (!layers.length) {
        field.value = "";
        if (status) { status.textContent = labels.none || ""; }
        return;
      }
      var fc = L.featureGroup(layers).toGeoJSON();
      field.value = JSON.stringify(fc);
      var n = vertices(fc);
      if (status) {
        status.textContent = (n > max ? labels.tooMany || "" : labels.drawn || "").replace("{n}", String(n));
      }
    }

    function track(layer) {
      drawn.addLayer(layer);
      layer.on("pm:edit pm:dragend pm:update", update);
      layer.on("pm:remove", function () { drawn.removeLayer(layer); update(); });
    }

    if (map.pm) {
      if (opts.lang === "sv" || opts.lang === "en") { map.pm.setLang(opts.lang); }
      map.pm.setGlobalOptions({allowSelfIntersection: false, snappable: true});
      map.pm.addControls({
        position: "topleft",
        drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawCircle: false,
        drawText: false, cutPolygon: false, rotateMode: false,
        drawPolygon: true, drawRectangle: true, editMode: true, dragMode: true, removalMode: true
      });
      /* Geoman's toolbar buttons are empty links titled on their container: name them */
      box.querySelectorAll(".leaflet-buttons-control-button").forEach(function (a) {
        var title = a.parentNode && a.parentNode.getAttribute("title");
        if (title) { a.setAttribute("aria-label", title); }
      });
      map.on("pm:create", function (e) { track(e.layer); update(); });
      map.on("pm:remove", function (e) { drawn.removeLayer(e.layer); update(); });
    }
    if (field.value) {
      try {
        L.geoJSON(JSON.parse(field.value)).eachLayer(track);
      } catch (err) { field.value = ""; }
    }
    var bounds = drawn.getLayers().length ? drawn.getBounds() : context.getBounds();
    if (bounds && bounds.isValid()) { map.fitBounds(bounds); } else { map.setView([62, 15], 5); }
    update();
    global.tryggkartaDrawMap = map;
    return map;
  }

  global.tryggkarta = global.tryggkarta || {};
  global.tryggkarta.drawProject = drawProject;
})(window);
