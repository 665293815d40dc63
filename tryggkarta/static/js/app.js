/* tryggkarta page helpers that every page may use (no inline handlers: the CSP forbids them).
 * [data-print] buttons print the page; tryggkartaPage.insideRing tests a point against an
 * outline of [lat, lon] corners (the survey and report forms' "outside the area" check);
 * tryggkartaPage.background(map, source) draws the one background every map has (the
 * server's description, from an element's data-background or an object; see
 * tryggkarta/maps/basemap.py): raster tiles, vector tiles drawn by protomaps-leaflet with the
 * app's own style (served by the app, fonts the machine has), or with no background the
 * context: the municipality and district outlines with district and place names. */
(function () {
  "use strict";

  var scriptLoads = {};

  /* protomaps-leaflet is loaded only by pages whose background is vector tiles */
  function loadScript(src) {
    if (!scriptLoads[src]) {
      scriptLoads[src] = new Promise(function (resolve, reject) {
        if (window.protomapsL) { resolve(); return; }
        var tag = document.createElement("script");
        tag.src = src;
        tag.onload = function () { resolve(); };
        tag.onerror = function () { reject(new Error("could not load " + src)); };
        document.head.appendChild(tag);
      });
    }
    return scriptLoads[src];
  }

  /* Paint and label rules for the OpenMapTiles schema (planetiler's default profile,
   * tilemaker): a plain light map under the app's own coloured layers. */
  function openMapTilesRules(P, lang) {
    function cls(values) {
      return function (z, f) { return values.indexOf(f.props["class"]) >= 0; };
    }
    var names = ["name:" + lang, "name", "name:latin"];
    var paint = [
      {dataLayer: "landcover", symbolizer: new P.PolygonSymbolizer({fill: "#dde9d0", opacity: 0.8}),
        filter: cls(["wood", "forest", "grass", "farmland", "wetland", "scrub"])},
      {dataLayer: "landuse", symbolizer: new P.PolygonSymbolizer({fill: "#ebe6df"}),
        filter: cls(["residential", "suburb", "neighbourhood", "commercial", "retail", "industrial"])},
      {dataLayer: "park", symbolizer: new P.PolygonSymbolizer({fill: "#d3e6c5"})},
      {dataLayer: "water", symbolizer: new P.PolygonSymbolizer({fill: "#aacbe0"})},
      {dataLayer: "waterway", symbolizer: new P.LineSymbolizer({color: "#aacbe0", width: 1.2})},
      {dataLayer: "aeroway", symbolizer: new P.PolygonSymbolizer({fill: "#e2e0ea"})},
      {dataLayer: "building", minzoom: 14, symbolizer: new P.PolygonSymbolizer({fill: "#ddd6cd", stroke: "#cfc7bd", width: 0.5})},
      {dataLayer: "boundary", symbolizer: new P.LineSymbolizer({color: "#a7a3b5", width: 1, dash: [4, 3]}),
        filter: function (z, f) { return Number(f.props.admin_level) <= 7; }},
      {dataLayer: "transportation", minzoom: 13, symbolizer: new P.LineSymbolizer({color: "#ffffff", width: 1.5}),
        filter: cls(["minor", "service", "track", "path"])},
      {dataLayer: "transportation", symbolizer: new P.LineSymbolizer({color: "#bcbcbc", width: 1, dash: [3, 2]}),
        filter: cls(["rail", "transit"])},
      {dataLayer: "transportation", symbolizer: new P.LineSymbolizer({color: "#fdfdfd", width: 2.5}),
        filter: cls(["secondary", "tertiary"])},
      {dataLayer: "transportation", symbolizer: new P.LineSymbolizer({color: "#f6d58c", width: 3}),
        filter: cls(["motorway", "trunk", "primary"])}
    ];
    var label = [
      {dataLayer: "place", symbolizer: new P.CenteredTextSymbolizer({labelProps: names, fill: "#2b2b2b",
        stroke: "#ffffff", width: 2, font: "600 13px sans-serif"}), filter: cls(["city", "town"])},
      {dataLayer: "place", minzoom: 11, symbolizer: new P.CenteredTextSymbolizer({labelProps: names,
        fill: "#3c3c3c", stroke: "#ffffff", width: 2, font: "400 12px sans-serif"}),
        filter: cls(["village", "suburb", "quarter", "neighbourhood", "hamlet"])},
      {dataLayer: "water_name", symbolizer: new P.CenteredTextSymbolizer({labelProps: names,
        fill: "#2f5d85", stroke: "#ffffff", width: 1.5, font: "italic 400 12px sans-serif"})},
      {dataLayer: "transportation_name", minzoom: 14, symbolizer: new P.LineLabelSymbolizer({
        labelProps: names, fill: "#4a4a4a", stroke: "#ffffff", width: 2, font: "400 11px sans-serif"})}
    ];
    return {paintRules: paint, labelRules: label, backgroundColor: "#f4f1ec"};
  }

  function vectorLayer(map, bg) {
    if (!bg.script && !window.protomapsL) { return contextLayer(map, bg); }  /* not installed */
    var holder = L.layerGroup().addTo(map);
    loadScript(bg.script).then(function () {
      var P = window.protomapsL;
      var options = {
        url: bg.url,
        attribution: bg.attribution || "",
        maxDataZoom: bg.maxDataZoom,
        maxZoom: bg.maxZoom || 19,
        lang: bg.lang || "sv"
      };
      /* data zoom = display zoom - 1 (512 px data tiles): none below the file's first level */
      if (typeof bg.minZoom === "number") { options.minZoom = bg.minZoom + 1; }
      if (bg.schema === "openmaptiles") {
        var rules = openMapTilesRules(P, options.lang);
        options.paintRules = rules.paintRules;
        options.labelRules = rules.labelRules;
        options.backgroundColor = rules.backgroundColor;
      } else {
        options.flavor = "light";
      }
      holder.addLayer(P.leafletLayer(options));
    }).catch(function () {
      /* the renderer could not be loaded: the map still gets outlines and names */
      holder.addLayer(contextLayer(map, bg) || L.layerGroup());
    });
    return holder;
  }

  function labelAt(latlng, text, className) {
    var span = document.createElement("span");
    span.textContent = text;  /* names are data: text, never markup */
    return L.tooltip({permanent: true, direction: "center", interactive: false, className: className})
      .setLatLng(latlng).setContent(span);
  }

  /* No background map: outlines and names from the app's own data */
  function contextLayer(map, bg) {
    if (!bg.context || !window.fetch) { return null; }
    if (!map.getPane("tkContext")) {
      var pane = map.createPane("tkContext");
      pane.style.zIndex = 250;  /* above tiles (200), below the data layers (400) */
      pane.style.pointerEvents = "none";
    }
    var group = L.layerGroup().addTo(map);
    var places = L.layerGroup();
    var PLACE_ZOOM = 13;
    function showPlaces() {
      if (map.getZoom() >= PLACE_ZOOM) { places.addTo(map); } else { map.removeLayer(places); }
    }
    window.fetch(bg.context, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error("context " + r.status); }
      return r.json();
    }).then(function (fc) {
      var outlines = (fc.features || []).filter(function (f) { return f.geometry && f.geometry.type !== "Point"; });
      L.geoJSON({type: "FeatureCollection", features: outlines}, {
        pane: "tkContext",
        interactive: false,
        style: function (f) {
          var muni = (f.properties || {}).kind === "municipality";
          return {color: muni ? "#3d3d3d" : "#6b6b6b", weight: muni ? 2.5 : 1, opacity: 0.9,
                  fill: muni, fillColor: "#f6f4ef", fillOpacity: muni ? 0.6 : 0, dashArray: muni ? null : "4 4"};
        }
      }).addTo(group);
      (fc.features || []).forEach(function (f) {
        var p = f.properties || {};
        if (!f.geometry || f.geometry.type !== "Point" || !p.label) { return; }
        var c = f.geometry.coordinates;
        if (p.kind === "place") {
          places.addLayer(labelAt([c[1], c[0]], p.label, "tk-area-label tk-place-label"));
        } else {
          group.addLayer(labelAt([c[1], c[0]], p.label, "tk-area-label"));
        }
      });
      map.on("zoomend", showPlaces);
      showPlaces();
    }).catch(function (err) {
      if (window.console) { window.console.error(err); }
    });
    return group;
  }

  window.tryggkartaPage = {
    /* The map's background from ``source``: an element with data-background or the
     * description itself. Returns the layer (or group) drawn, or null. */
    background: function (map, source) {
      var bg = source;
      if (source && source.nodeType === 1) {
        try { bg = JSON.parse(source.getAttribute("data-background") || "null"); } catch (e) { bg = null; }
      }
      if (!bg || typeof L === "undefined") { return null; }
      if (bg.kind === "raster" && bg.url) {
        var opts = {attribution: bg.attribution || "", maxZoom: bg.maxZoom || 19};
        /* not minNativeZoom: scaling z9 tiles up to a country view asks for thousands */
        if (typeof bg.minZoom === "number") { opts.minZoom = bg.minZoom; }
        if (typeof bg.maxNativeZoom === "number") { opts.maxNativeZoom = bg.maxNativeZoom; }
        return L.tileLayer(bg.url, opts).addTo(map);
      }
      if (bg.kind === "vector" && bg.url) { return vectorLayer(map, bg); }
      if (bg.kind === "none") { return contextLayer(map, bg); }
      return null;
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
