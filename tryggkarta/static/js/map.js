/* tryggkarta map helpers: raw points by bbox from the JSON API, district search.
 * No external requests: everything comes from this server. Text goes in via textContent. */
(function (global) {
  "use strict";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function popupFor(props, opts) {
    var box = el("div", null, "tk-popup");
    box.appendChild(el("h3", opts.labels.title));
    var table = el("table", null, "tk-popup-table");
    var rows = [
      [opts.labels.category, opts.categories[props.category] || props.category],
      [opts.labels.when, props.occurred_at ? String(props.occurred_at).replace("T", " ").slice(0, 16) : ""],
      [opts.labels.address, props.address],
      [opts.labels.reporter, props.reporter_org],
      [opts.labels.description, props.description]
    ];
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === null || r[1] === "") { return; }
      var tr = el("tr");
      var th = el("th", r[0]); th.setAttribute("scope", "row");
      tr.appendChild(th); tr.appendChild(el("td", r[1]));
      table.appendChild(tr);
    });
    box.appendChild(table);
    return box;
  }

  function query(params) {
    var parts = [];
    Object.keys(params || {}).forEach(function (key) {
      [].concat(params[key]).forEach(function (v) {
        parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(v));
      });
    });
    return parts.join("&");
  }

  /* A clustered layer refreshed from opts.url for the visible bbox (zoom >= opts.minZoom). */
  function bboxLayer(map, opts) {
    var group = L.markerClusterGroup ? L.markerClusterGroup({chunkedLoading: true}) : L.featureGroup();
    var status = L.control({position: "bottomright"});
    status.onAdd = function () {
      var div = L.DomUtil.create("div", "tk-status leaflet-control");
      div.setAttribute("role", "status");
      return div;
    };
    var pending = null;
    function say(text) {
      var c = status.getContainer();
      if (c) { c.textContent = text || ""; c.style.display = text ? "" : "none"; }
    }
    function refresh() {
      if (!map.hasLayer(group)) { return; }
      if (map.getZoom() < opts.minZoom) { group.clearLayers(); say(opts.labels.zoomIn); return; }
      var b = map.getBounds();
      var params = Object.assign({}, opts.params, {
        bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(","),
        limit: opts.limit
      });
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(opts.url + "?" + query(params), {credentials: "same-origin", signal: pending.signal})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          group.clearLayers();
          var layer = L.geoJSON(data, {
            pointToLayer: function (f, latlng) {
              return L.circleMarker(latlng, {radius: 6, color: "#5b0000", weight: 1, fillColor: "#b30000", fillOpacity: 0.85});
            },
            onEachFeature: function (f, l) { l.bindPopup(popupFor(f.properties || {}, opts)); }
          });
          group.addLayer(layer);
          say(data.features && data.features.length >= opts.limit ? opts.labels.tooMany : "");
        })
        .catch(function (err) { if (err && err.name === "AbortError") { return; } say(String(err)); });
    }
    map.on("moveend", refresh);
    map.on("overlayadd", function (e) { if (e.layer === group) { status.addTo(map); refresh(); } });
    map.on("overlayremove", function (e) { if (e.layer === group) { group.clearLayers(); status.remove(); } });
    group.on("add", function () { if (!status.getContainer()) { status.addTo(map); } refresh(); });
    return group;
  }

  /* Zoom to the district chosen in the <select id=selectId> (bounds in data-bounds). */
  function districtSearch(map, selectId) {
    var select = document.getElementById(selectId);
    if (!select || !map) { return; }
    select.addEventListener("change", function () {
      var opt = select.options[select.selectedIndex];
      var b = (opt && opt.getAttribute("data-bounds") || "").split(",").map(Number);
      if (b.length === 4 && b.every(isFinite)) { map.fitBounds([[b[1], b[0]], [b[3], b[2]]]); }
    });
  }

  global.tryggkarta = {bboxLayer: bboxLayer, districtSearch: districtSearch};
})(window);
