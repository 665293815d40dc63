/* tryggkarta page helpers that every page may use (no inline handlers: the CSP forbids them).
 * [data-print] buttons print the page; tryggkartaPage.insideRing tests a point against an
 * outline of [lat, lon] corners (the survey and report forms' "outside the area" check);
 * tryggkartaPage.background puts the installation's background map (data-tiles, data-zooms:
 * the local MBTiles file's zoom range, or none at all) under a form's small map. */
(function () {
  "use strict";
  window.tryggkartaPage = {
    background: function (map, box) {
      if (!box.dataset.tiles || typeof L === "undefined") { return null; }
      var zooms = (box.dataset.zooms || "0,19").split(",").map(Number);
      /* no tiles asked for outside the file's zooms: deeper, Leaflet enlarges the deepest */
      return L.tileLayer(box.dataset.tiles, {
        attribution: box.dataset.attribution || "", minZoom: zooms[0] || 0,
        maxNativeZoom: zooms[1] || 19, maxZoom: 19
      }).addTo(map);
    },
    insideRing: function (ring, lat, lon) {
      if (ring.length < 3) { return true; }
      var hit = false;
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var yi = ring[i][0], xi = ring[i][1], yj = ring[j][0], xj = ring[j][1];
        if ((yi > lat) !== (yj > lat) && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) { hit = !hit; }
      }
      return hit;
    }
  };
  document.addEventListener("click", function (event) {
    var target = event.target;
    var button = target && target.closest ? target.closest("[data-print]") : null;
    if (button) {
      event.preventDefault();
      window.print();
    }
  });
})();
