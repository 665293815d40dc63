/* tryggkarta page helpers that every page may use (no inline handlers: the CSP forbids them).
 * [data-print] buttons print the page; tryggkartaPage.insideRing tests a point against an
 * outline of [lat, lon] corners (the survey and report forms' "outside the area" check). */
(function () {
  "use strict";
  window.tryggkartaPage = {
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
