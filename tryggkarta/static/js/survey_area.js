/* Survey campaign maps for municipality staff. On the campaign form (/enkater/): draw the
 * campaign's own area; each click adds a corner, written to the textarea (one "lat, lon" per
 * line), which is also how keyboard users type them in; the server checks the polygon. On a
 * campaign's page (/enkater/<id>): its area and the walking routes residents drew.
 * No inline script (CSP). */
(function () {
  "use strict";
  var routeBox = document.getElementById("route-map");
  if (routeBox && typeof L !== "undefined") {
    routeBox.hidden = false;
    var rmap = L.map(routeBox, { scrollWheelZoom: false });
    rmap.fitBounds(JSON.parse(routeBox.dataset.bounds));
    window.tryggkartaPage.background(rmap, routeBox);
    var area = JSON.parse(routeBox.dataset.outline || "[]");
    if (area.length > 2) {
      L.polygon(area, { color: "#1d4e89", weight: 2, fill: false, interactive: false }).addTo(rmap);
    }
    JSON.parse(routeBox.dataset.routes || "[]").forEach(function (line) {
      L.polyline(line, { color: "#b3261e", weight: 3, opacity: 0.8, interactive: false }).addTo(rmap);
    });
  }
  var box = document.getElementById("area-map");
  var field = document.getElementById("area_polygon");
  if (!box || !field || typeof L === "undefined") { return; }
  box.hidden = false;
  document.getElementById("area-tools").hidden = false;
  var map = L.map(box, { scrollWheelZoom: false });
  map.fitBounds(JSON.parse(box.dataset.bounds));
  window.tryggkartaPage.background(map, box);
  var outline = JSON.parse(box.dataset.outline || "[]");
  if (outline.length > 2) {
    L.polygon(outline, { color: "#1d4e89", weight: 2, fill: false, interactive: false }).addTo(map);
  }
  var shape = L.polygon([], { color: "#b3261e", weight: 3, fillOpacity: 0.1 }).addTo(map);

  function corners() {
    return field.value.split(/\n+/).map(function (line) {
      var m = line.match(/-?\d+(?:[.,]\d+)?/g);
      if (!m || m.length !== 2) { return null; }
      return [parseFloat(m[0].replace(",", ".")), parseFloat(m[1].replace(",", "."))];
    }).filter(function (c) { return c && isFinite(c[0]) && isFinite(c[1]); });
  }

  function write(list) {
    field.value = list.map(function (c) { return c[0].toFixed(6) + ", " + c[1].toFixed(6); }).join("\n");
    draw();
  }

  function draw() { shape.setLatLngs(corners()); }

  map.on("click", function (ev) {
    var list = corners();
    list.push([ev.latlng.lat, ev.latlng.lng]);
    write(list);
  });
  document.getElementById("area-undo").addEventListener("click", function () {
    var list = corners();
    list.pop();
    write(list);
  });
  document.getElementById("area-clear").addEventListener("click", function () { write([]); });
  field.addEventListener("input", draw);
  draw();
})();
