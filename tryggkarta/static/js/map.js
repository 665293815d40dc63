/* tryggkarta map helpers: layers with browser-built popups, raw points as vector tiles (or by
 * bbox from the JSON API),
 * district search.
 * No external requests: everything comes from this server. Text goes in via textContent. */
(function (global) {
  "use strict";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  /* A time for people: the API sends ISO 8601 with the offset of the installation's time
   * zone; shown as "2024-06-15 05:27" in opts.timeZone (TRYGGKARTA_TIMEZONE), whatever zone
   * the browser is in. Without Intl time-zone support, the wall time the server wrote. */
  var timeFormats = {};
  function formatTime(value, opts) {
    if (value === undefined || value === null || value === "") { return ""; }
    var text = String(value);
    var when = new Date(text);
    var zone = opts.timeZone;
    if (!zone || isNaN(when.getTime())) { return text.replace("T", " ").slice(0, 16); }
    var key = zone;
    try {
      if (!timeFormats[key]) {
        timeFormats[key] = new Intl.DateTimeFormat("sv-SE", {
          timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", hourCycle: "h23"
        });
      }
      return timeFormats[key].format(when);
    } catch (e) {
      return text.replace("T", " ").slice(0, 16);
    }
  }

  function popupFor(props, opts) {
    var box = el("div", null, "tk-popup");
    box.appendChild(el("h3", opts.labels.title));
    box.appendChild(rowTable([
      [opts.labels.category, opts.categories[props.category] || props.category],
      [opts.labels.when, formatTime(props.occurred_at, opts)],
      [opts.labels.address, props.address],
      [opts.labels.reporter, props.reporter_org],
      [opts.labels.description, props.description]
    ]));
    return box;
  }

  /* A popup's table of [label, text] rows; rows without a text are left out. */
  function rowTable(rows) {
    var table = el("table", null, "tk-popup-table");
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === null || r[1] === "") { return; }
      var tr = el("tr");
      var th = el("th", r[0]); th.setAttribute("scope", "row");
      tr.appendChild(th); tr.appendChild(el("td", r[1]));
      table.appendChild(tr);
    });
    return table;
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

  /* Raw incidents as vector tiles (opts.url: /tiles/incidents/{z}/{x}/{y}.mvt, raw roles only)
   * drawn by the vendored leaflet-vector-tile-layer (window.VectorTileLayer): layer "incidents"
   * (points, from opts.pointZoom) red dots whose popup is fetched from the feature API by id
   * (opts.itemUrl ends in /0); layer "cells" (further out) circles coloured and sized by the
   * count class (opts.breaks, opts.palette). The page's filters (opts.params) go with every
   * tile, so what is drawn is what the filter form asked for. With opts.maxDetailZoom (the
   * start page's cell layer of a region or the country) no tile above that zoom is asked. */
  function tileLayer(map, opts) {
    if (!map.getPane("tkTiles")) {
      /* above the cell and area polygons (400), below markers and popups */
      map.createPane("tkTiles").style.zIndex = "450";
    }
    var qs = query(opts.params || {});
    function countClass(n) {
      var i = 0;
      while (i < opts.breaks.length && n > opts.breaks[i]) { i += 1; }
      return Math.min(i, opts.palette.length - 1);
    }
    var layer = global.VectorTileLayer(opts.url + (qs ? "?" + qs : ""), {
      pane: "tkTiles",
      maxZoom: 22,
      /* a cells-only layer (the page's cells of a region): closer in, its last cell zoom's
       * tiles drawn larger, never the point tiles */
      maxDetailZoom: opts.maxDetailZoom,
      fetchOptions: {credentials: "same-origin"},
      layers: ["cells", "incidents"],
      style: function (feature, layerName) {
        if (layerName === "cells") {
          var c = countClass(Number(feature.properties.n) || 0);
          return {radius: 4 + 2 * c, stroke: true, color: "#3d3d3d", weight: 1, opacity: 0.9,
                  fill: true, fillColor: opts.palette[c], fillOpacity: 0.85, interactive: true};
        }
        return {radius: 5, stroke: true, color: "#ffffff", weight: 1.5, opacity: 1,
                fill: true, fillColor: opts.pointColour, fillOpacity: 0.9, interactive: true};
      }
    });
    var popup = L.popup({maxWidth: 340});
    function cellPopup(p) {
      var box = el("div", null, "tk-popup");
      box.appendChild(el("h3", opts.labels.cellTitle));
      box.appendChild(rowTable([
        [opts.labels.count, fmtValue(Number(p.n), "int", opts)],
        [opts.labels.cell, p.cell >= 1000 ? (p.cell / 1000) + " km" : p.cell + " m"]
      ]));
      return box;
    }
    layer.on("click", function (e) {
      var f = e.layer || {};
      var p = f.properties || {};
      if (!e.latlng) { return; }
      if (f.layerName === "cells") {
        popup.setLatLng(e.latlng).setContent(cellPopup(p)).openOn(map);
        return;
      }
      /* what the tile carries (category, time) at once; address and description fetched */
      popup.setLatLng(e.latlng).setContent(popupFor(p, opts)).openOn(map);
      var wanted = String(p.id);
      popup._tkId = wanted;
      fetch(opts.itemUrl.replace(/0$/, encodeURIComponent(wanted)), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (item) {
          if (popup.isOpen() && popup._tkId === wanted) { popup.setContent(popupFor(item.properties || {}, opts)); }
        })
        .catch(function () {
          if (popup.isOpen() && popup._tkId === wanted) {
            var box = popupFor(p, opts);
            box.appendChild(el("p", opts.labels.failed, "tk-popup-note"));
            popup.setContent(box);
          }
        });
    });
    return layer;
  }

  /* ---- cell layers: compact properties, popups built here (textContent only) ---- */

  var formats = {};
  function numberFormat(lang, digits, style) {
    var key = lang + digits + (style || "");
    if (!formats[key]) {
      formats[key] = new Intl.NumberFormat(lang === "en" ? "en-GB" : "sv-SE",
        {style: style || "decimal", minimumFractionDigits: digits, maximumFractionDigits: digits});
    }
    return formats[key];
  }

  /* One value as text: fmt is "int", "dec2", "pct", "text" or {map: lookupName}. */
  function fmtValue(v, fmt, opts) {
    if (v === undefined || v === null || v === "") { return ""; }
    if (fmt && typeof fmt === "object" && fmt.map) {
      var table = (opts.lookups || {})[fmt.map] || {};
      return Object.prototype.hasOwnProperty.call(table, v) ? table[v] : String(v);
    }
    if (typeof v === "number") {
      if (fmt === "int") { return numberFormat(opts.lang, 0).format(v); }
      if (fmt === "dec2") { return numberFormat(opts.lang, 2).format(v); }
      if (fmt === "pct") { return numberFormat(opts.lang, 0, "percent").format(v); }
    }
    return String(v);
  }

  /* A popup element from a template {title, titleKey, rows: [[label, key, fmt]],
   * lists: [[heading, key, {map, pattern}]]} (pattern: "{label}: {n}"). */
  function templatePopup(p, opts) {
    var tpl = opts.popup;
    var box = el("div", null, "tk-popup");
    box.appendChild(el("h3", (tpl.titleKey && p[tpl.titleKey]) || tpl.title || ""));
    box.appendChild(rowTable((tpl.rows || []).map(function (r) {
      return [r[0], fmtValue(p[r[1]], r[2], opts)];
    })));
    (tpl.lists || []).forEach(function (s) {
      var items = p[s[1]];
      if (!items || !items.length) { return; }
      box.appendChild(el("h4", s[0]));
      var ul = el("ul");
      items.forEach(function (item) {
        var pair = [].concat(item);
        var label = fmtValue(pair[0], {map: s[2].map}, opts);
        var text = pair.length > 1 ? (s[2].pattern || "{label}: {n}").replace("{label}", label)
          .replace("{n}", fmtValue(pair[1], s[2].n || "int", opts)) : label;
        ul.appendChild(el("li", text));
      });
      box.appendChild(ul);
    });
    return box;
  }

  function templateTip(p, opts) {
    var tip = opts.tip;
    var text = tip.key ? tip.text.replace("{n}", fmtValue(p[tip.key], tip.fmt, opts)) : tip.text;
    return el("span", text);
  }

  /* An L.geoJSON layer. Features with _style/_popup/_tip (server-escaped HTML) use them;
   * the others are styled from opts.style + opts.palette[_c] and get template popups.
   * With opts.url the data is fetched (same origin) the first time the layer is shown. */
  function geoLayer(data, opts) {
    opts = opts || {};
    var layer = L.geoJSON(null, {
      style: function (f) {
        var p = f.properties || {};
        if (p._style) { return p._style; }
        var s = Object.assign({}, opts.style || {});
        if (p._c !== undefined && opts.palette) { s.fillColor = opts.palette[p._c]; }
        return s;
      },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, (f.properties || {})._style || {radius: 6});
      },
      onEachFeature: function (f, l) {
        var p = f.properties || {};
        if (p._popup) { l.bindPopup(p._popup, {maxWidth: 340}); }
        else if (opts.popup) { l.bindPopup(function () { return templatePopup(p, opts); }, {maxWidth: 340}); }
        if (p._label) {
          /* no background map: the district's name stays on the map, centred */
          l.bindTooltip(p._label, {permanent: true, direction: "center", className: "tk-area-label"});
        } else if (p._tip) { l.bindTooltip(p._tip, {sticky: true}); }
        else if (opts.tip) { l.bindTooltip(function () { return templateTip(p, opts); }, {sticky: true}); }
      }
    });
    withHalo(layer, opts);
    if (opts.palette) { visibleWhenSmall(layer); }
    if (data && data.features && data.features.length) { layer.addData(data); }
    if (opts.url) {
      var loaded = false;
      layer.on("add", function () {
        if (loaded) { return; }
        loaded = true;
        fetch(opts.url, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
          .then(function (json) {
            Object.assign(opts, json.tk || {});
            layer.addData(json);
            layer.fire("tk:loaded");
          })
          .catch(function (err) { loaded = false; if (global.console) { console.warn("tryggkarta layer", err); } });
      });
    }
    return layer;
  }

  /* opts.halo: a white line under every outline, in a layer of its own just below this one,
   * so a dark outline stays visible over any fill (red Gi* cells over red incident cells).
   * Read when data arrives: lazy layers get opts.halo with their data (json.tk). */
  /* Cells of 250 m seen from a county or the country are smaller than a pixel: below
   * MIN_CELL_PX on screen a cell is drawn with a thick outline in its own colour, so it stays
   * a visible dot of that colour (and clickable); zoomed in it gets its normal style back. */
  var MIN_CELL_PX = 5;
  function visibleWhenSmall(layer) {
    function restyle() {
      var map = layer._map;
      if (!map) { return; }
      layer.eachLayer(function (l) {
        if (!l.getBounds) { return; }
        var b = l.getBounds();
        var a = map.latLngToContainerPoint(b.getSouthWest());
        var c = map.latLngToContainerPoint(b.getNorthEast());
        var px = Math.max(Math.abs(c.x - a.x), Math.abs(a.y - c.y));
        if (px < MIN_CELL_PX) {
          l.setStyle({color: l.options.fillColor, opacity: 1, weight: MIN_CELL_PX - px + 1});
        } else if (l.options.color === l.options.fillColor) {
          layer.resetStyle(l);
        }
      });
    }
    var bound = null;
    layer.on("add", function () {
      bound = layer._map;
      bound.on("zoomend", restyle);
      restyle();
    });
    layer.on("remove", function () {
      if (bound) { bound.off("zoomend", restyle); }
      bound = null;
    });
    layer.on("tk:loaded", restyle);
    var addData = layer.addData.bind(layer);
    layer.addData = function (d) { addData(d); restyle(); return layer; };
  }

  function withHalo(layer, opts) {
    var halo = null;
    var addData = layer.addData.bind(layer);
    function show() {
      if (layer._map && halo) { halo.addTo(layer._map); layer.bringToFront(); }
    }
    layer.addData = function (d) {
      addData(d);
      if (!opts.halo) { return layer; }
      if (!halo) {
        halo = L.geoJSON(null, {
          interactive: false,
          style: function (f) {
            var s = (f.properties || {})._style || opts.style || {};
            return {color: "#ffffff", opacity: 0.95, weight: (s.weight || 1) + 3, fill: false, interactive: false};
          },
          pointToLayer: function (f, latlng) {
            return L.circleMarker(latlng, {radius: 8, interactive: false});
          }
        });
        layer.on("add", show);
        layer.on("remove", function () { halo.remove(); });
      }
      halo.addData(d);
      show();
      return layer;
    };
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

  /* On a phone (narrow screen) the map fills the screen: the layer list and the legend fold
   * into buttons at the map's corners, opened and closed by tap or keyboard. */
  function foldOnPhone(map, labels, query) {
    var mq = global.matchMedia && global.matchMedia(query || "(max-width: 720px)");
    if (!map || !mq || !mq.matches) { return; }
    labels = labels || {};
    var box = map.getContainer();
    var control = box.querySelector(".leaflet-control-layers");
    if (control) {
      var link = control.querySelector(".leaflet-control-layers-toggle");
      control.classList.remove("leaflet-control-layers-expanded");
      if (link) {
        link.title = labels.layers || link.title;
        link.setAttribute("aria-label", labels.layers || link.title);
        link.setAttribute("aria-expanded", "false");
        /* Leaflet opens the list on focus too: a tap opens it, a tap on the map closes it */
        var setOpen = function (open) {
          control.classList.toggle("leaflet-control-layers-expanded", open);
          link.setAttribute("aria-expanded", String(open));
        };
        link.addEventListener("click", function (e) { e.preventDefault(); setOpen(true); });
        link.addEventListener("focus", function () { setOpen(true); });
        box.addEventListener("click", function (e) {
          if (!control.contains(e.target)) { setOpen(false); }
        });
        control.addEventListener("keydown", function (e) {
          if (e.key === "Escape") { setOpen(false); link.focus(); }
        });
      }
    }
    var legend = box.querySelector(".tk-legend");
    if (legend) {
      var heading = legend.querySelector(".tk-legend-heading");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "tk-legend-toggle";
      button.textContent = heading ? heading.textContent : (labels.legend || "");
      button.setAttribute("aria-expanded", "false");
      legend.insertBefore(button, legend.firstChild);
      legend.classList.add("tk-folded");
      button.addEventListener("click", function () {
        var folded = legend.classList.toggle("tk-folded");
        button.setAttribute("aria-expanded", String(!folded));
      });
    }
    /* the map ends at the bottom of the first screen, whatever banners sit above it */
    var frame = box.closest(".map-frame");
    function fit() {
      if (!frame) { return; }
      var top = frame.getBoundingClientRect().top + global.scrollY;
      frame.style.setProperty("height", Math.max(320, global.innerHeight - top) + "px");
      map.invalidateSize();
    }
    fit();
    global.addEventListener("resize", fit);
  }

  /* Place search (offline, this server's /api/platser): districts, named places, addresses.
   * A choice zooms to the district's bounds or to the place, marked by a ring with its name. */
  function placeSearch(map, inputId, listId, labels) {
    var input = document.getElementById(inputId);
    var list = document.getElementById(listId);
    if (!map || !input || !list) { return; }
    labels = labels || {};
    var timer = null, pending = null, results = [], marker = null;
    function choose(hit) {
      if (marker) { map.removeLayer(marker); }
      if (hit.bounds) {
        map.fitBounds([[hit.bounds[1], hit.bounds[0]], [hit.bounds[3], hit.bounds[2]]]);
      } else {
        map.setView([hit.lat, hit.lon], Math.max(map.getZoom(), 17));
      }
      marker = L.circleMarker([hit.lat, hit.lon], {radius: 10, color: "#1a1a1a", weight: 3, fill: false})
        .bindTooltip(hit.name, {permanent: true, direction: "top", className: "tk-place-label"})
        .addTo(map);
    }
    function show(hits) {
      results = hits;
      list.textContent = "";
      if (!hits.length) { list.appendChild(el("li", labels.none || "")); return; }
      hits.forEach(function (hit) {
        var li = el("li");
        var button = el("button");
        button.type = "button";
        button.appendChild(el("span", hit.name));
        button.appendChild(document.createTextNode(" "));
        button.appendChild(el("span", labels[hit.kind] || hit.kind, "tk-place-kind"));
        button.addEventListener("click", function () { choose(hit); });
        li.appendChild(button);
        list.appendChild(li);
      });
    }
    function run() {
      var q = input.value.trim();
      if (q.length < 2) { list.textContent = ""; results = []; return; }
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(input.getAttribute("data-url") + "?" + query({q: q}), {credentials: "same-origin", signal: pending.signal})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) { show(data.results || []); })
        .catch(function (err) {
          if (err && err.name === "AbortError") { return; }
          list.textContent = ""; list.appendChild(el("li", labels.error || String(err)));
        });
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 200); });
    input.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") { return; }
      e.preventDefault();  /* the search box sits in the filter form: Enter picks, not submits */
      if (results.length) { choose(results[0]); } else { clearTimeout(timer); run(); }
    });
  }

  /* The layers (key -> Leaflet layer) of a folium map: layerVars maps each key to the global
   * variable folium's script declared for it. */
  function layersOf(layerVars) {
    var out = {};
    Object.keys(layerVars || {}).forEach(function (key) {
      var layer = global[layerVars[key]];
      if (layer) { out[key] = layer; }
    });
    return out;
  }

  /* "Spara/dela karta": on submit the form gets the view (extent west,south,east,north in
   * degrees; zoom) and the layers switched on; the page's query string is already in it. */
  function saveMap(map, formId, layerVars) {
    var form = document.getElementById(formId);
    if (!form || !map) { return; }
    form.addEventListener("submit", function () {
      var b = map.getBounds();
      form.elements.extent.value = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) { return v.toFixed(6); }).join(",");
      form.elements.zoom.value = String(map.getZoom());
      var layers = layersOf(layerVars);
      form.elements.shown.value = Object.keys(layers)
        .filter(function (key) { return map.hasLayer(layers[key]); }).join(",");
    });
  }

  /* A saved map opens as it was saved: the same layers switched on, the same centre and zoom. */
  function restoreView(map, layerVars, view) {
    if (!map || !view) { return; }
    if (view.shown) {
      var layers = layersOf(layerVars);
      Object.keys(layers).forEach(function (key) {
        var on = view.shown.indexOf(key) >= 0;
        if (on && !map.hasLayer(layers[key])) { layers[key].addTo(map); }
        if (!on && map.hasLayer(layers[key])) { map.removeLayer(layers[key]); }
      });
    }
    if (view.extent && view.zoom !== null && view.zoom !== undefined) {
      var e = view.extent;
      map.setView([(e[1] + e[3]) / 2, (e[0] + e[2]) / 2], view.zoom);
    }
  }

  global.tryggkarta = {
    bboxLayer: bboxLayer, tileLayer: tileLayer, districtSearch: districtSearch, foldOnPhone: foldOnPhone, geoLayer: geoLayer,
    saveMap: saveMap, restoreView: restoreView, placeSearch: placeSearch,
    templatePopup: templatePopup, popupFor: popupFor, formatTime: formatTime
  };
})(window);
