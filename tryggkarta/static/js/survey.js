/* The public map survey (/enkat/<slug>): pins on a Leaflet map, one fieldset of questions per
 * pin, the started answer kept in localStorage (it survives a reload and a lost network), and
 * one submission id per answer so a double submit stores one answer. Without JavaScript the
 * form still works: each place is chosen from the list. No inline script (CSP). */
(function () {
  "use strict";

  function storageKey(slug) { return "tryggkarta-survey-" + slug; }
  function answeredKey(slug) { return "tryggkarta-survey-answered-" + slug; }

  function store() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  var done = document.getElementById("survey-done");
  if (done) {
    var s0 = store();
    if (s0) {
      s0.removeItem(storageKey(done.dataset.slug));
      s0.setItem(answeredKey(done.dataset.slug), "1");  /* a later answer is flagged as a repeat */
    }
    return;
  }

  var form = document.getElementById("survey-form");
  if (!form) { return; }
  var slug = form.dataset.slug;
  var maxPins = parseInt(form.dataset.maxPins, 10) || 20;
  var pinsBox = document.getElementById("pins");
  var template = document.getElementById("pin-template");
  var addButton = document.getElementById("add-pin");
  var statusLine = document.getElementById("pins-status");
  var mapBox = document.getElementById("survey-map");
  var storage = store();
  var serverErrors = !!document.getElementById("error-summary");
  var markers = {};
  var active = null;
  var map = null;
  var outline = JSON.parse(mapBox.dataset.outline || "[]");

  function pins() { return Array.prototype.slice.call(pinsBox.querySelectorAll("fieldset.pin")); }

  function nextIndex() {
    var most = -1;
    pins().forEach(function (p) { most = Math.max(most, parseInt(p.dataset.pin, 10)); });
    return most + 1;
  }

  function renumber() {
    pins().forEach(function (p, k) {
      p.querySelectorAll(".pin-number").forEach(function (el) { el.textContent = String(k + 1); });
      var m = markers[p.dataset.pin];
      if (m) { m.setIcon(icon(k + 1)); }
      p.querySelector(".pin-remove").hidden = pins().length < 2;
    });
    addButton.disabled = pins().length >= maxPins;
  }

  function icon(n) {
    return L.divIcon({ className: "survey-pin", html: "<span>" + n + "</span>", iconSize: [30, 30] });
  }

  function inside(lat, lon) {
    return window.tryggkartaPage.insideRing(outline, lat, lon);
  }

  function setMarker(fieldset, lat, lon) {
    var i = fieldset.dataset.pin;
    if (!map) { return; }
    if (markers[i]) { markers[i].setLatLng([lat, lon]); return; }
    var n = pins().indexOf(fieldset) + 1;
    markers[i] = L.marker([lat, lon], { icon: icon(n), keyboard: false, title: mapBox.dataset.markerLabel + " " + n }).addTo(map);
    markers[i].on("click", function () { activate(fieldset, true); });
  }

  function clearMarker(fieldset) {
    var i = fieldset.dataset.pin;
    if (markers[i]) { map.removeLayer(markers[i]); delete markers[i]; }
  }

  function activate(fieldset, focus) {
    pins().forEach(function (p) { p.classList.toggle("active", p === fieldset); });
    active = fieldset;
    if (focus) { fieldset.querySelector(".pin-place").focus(); }
  }

  function clearPoint(fieldset) {
    fieldset.querySelector(".pin-lat").value = "";
    fieldset.querySelector(".pin-lon").value = "";
    fieldset.querySelector(".pin-where").textContent = "";
    clearMarker(fieldset);
  }

  /* A typed street address or place: suggestions from this campaign's area (buttons in a
   * polite live region); choosing one sets the pin's point. Without a choice (or without
   * JavaScript) the server looks the text up itself when the answer is sent. */
  function wireAddress(fieldset) {
    var input = fieldset.querySelector(".pin-address");
    var list = fieldset.querySelector(".pin-address-results");
    var timer = null, pending = null, hits = [];
    function item(text) {
      var li = document.createElement("li");
      li.textContent = text;
      return li;
    }
    function choose(hit) {
      input.value = hit.name;
      list.textContent = "";
      hits = [];
      fieldset.querySelector(".pin-place").value = "";
      fieldset.querySelector(".pin-lat").value = hit.lat.toFixed(6);
      fieldset.querySelector(".pin-lon").value = hit.lon.toFixed(6);
      fieldset.querySelector(".pin-where").textContent = form.dataset.chosen.replace("%(name)s", hit.name);
      setMarker(fieldset, hit.lat, hit.lon);
      if (map) { map.setView([hit.lat, hit.lon], Math.max(map.getZoom(), 16)); }
      input.focus();
      save();
    }
    function show(found) {
      hits = found;
      list.textContent = "";
      if (!found.length) { list.appendChild(item(form.dataset.none)); return; }
      found.forEach(function (hit) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = hit.name + " ";
        var kind = document.createElement("span");
        kind.className = "tk-place-kind";
        kind.textContent = form.dataset["kind" + hit.kind.charAt(0).toUpperCase() + hit.kind.slice(1)] || hit.kind;
        button.appendChild(kind);
        button.addEventListener("click", function () { choose(hit); });
        li.appendChild(button);
        list.appendChild(li);
      });
    }
    function run() {
      var q = input.value.trim();
      if (q.length < 2) { list.textContent = ""; hits = []; return; }
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(form.dataset.placesUrl + "?q=" + encodeURIComponent(q), {credentials: "same-origin", signal: pending.signal})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) { show(data.results || []); })
        .catch(function (err) {
          if (err && err.name === "AbortError") { return; }
          list.textContent = "";
          list.appendChild(item(form.dataset.searchError));
        });
    }
    input.addEventListener("input", function () {
      clearPoint(fieldset);  /* a new text: the earlier choice no longer holds */
      fieldset.querySelector(".pin-place").value = "";
      clearTimeout(timer);
      timer = setTimeout(run, 250);
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") { return; }
      ev.preventDefault();  /* Enter in the search picks the first suggestion, never sends */
      if (hits.length) { choose(hits[0]); } else { clearTimeout(timer); run(); }
    });
  }

  function wire(fieldset) {
    fieldset.addEventListener("focusin", function () { activate(fieldset, false); });
    fieldset.querySelector(".pin-place").addEventListener("change", function (ev) {
      if (ev.target.value) {
        clearPoint(fieldset);
        fieldset.querySelector(".pin-address").value = "";
      }
    });
    wireAddress(fieldset);
    var remove = fieldset.querySelector(".pin-remove");
    remove.addEventListener("click", function () {
      var list = pins();
      var k = list.indexOf(fieldset);
      clearMarker(fieldset);
      fieldset.remove();
      renumber();
      save();
      var rest = pins();
      var next = rest[Math.min(k, rest.length - 1)];
      activate(next, true);
      statusLine.textContent = rest.length + " / " + maxPins;
    });
  }

  function addPin(index, focus) {
    var i = index === undefined ? nextIndex() : index;
    var html = template.innerHTML.split("__i__").join(String(i)).split("__n__").join(String(pins().length + 1));
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fieldset = holder.querySelector("fieldset.pin");
    pinsBox.appendChild(fieldset);
    wire(fieldset);
    renumber();
    activate(fieldset, focus);
    statusLine.textContent = pins().length + " / " + maxPins;
    return fieldset;
  }

  /* --- the walking route: one optional line per answer ---------------------------------- */

  var routeField = document.getElementById("route");
  var routeBox = document.getElementById("route-box");
  var routeStatus = document.getElementById("route-status");
  var routeButton = document.getElementById("route-draw");
  var drawing = false;
  var routeLine = null;

  function routePoints() {
    try {
      var pts = JSON.parse(routeField.value || "[]");
      return Array.isArray(pts) ? pts : [];
    } catch (e) { return []; }
  }

  function showRoute(message) {
    var pts = routePoints();
    if (routeLine) { routeLine.setLatLngs(pts); }
    routeStatus.textContent = message || (pts.length ? routeStatus.dataset.points.replace("%(n)s", String(pts.length)) : "");
  }

  function setRoute(pts, message) {
    routeField.value = pts.length ? JSON.stringify(pts) : "";
    showRoute(message);
    save();
  }

  function toggleDrawing(on) {
    drawing = on;
    routeButton.setAttribute("aria-pressed", on ? "true" : "false");
    routeButton.textContent = on ? routeStatus.dataset.done : routeStatus.dataset.draw;
    showRoute(on ? routeStatus.dataset.drawing : "");
    if (on && mapBox.getBoundingClientRect().top < 0) { mapBox.scrollIntoView({ block: "start" }); }
  }

  function placeAt(lat, lon) {
    if (drawing) {
      if (!inside(lat, lon)) { showRoute(mapBox.dataset.outside); return; }
      var pts = routePoints();
      if (pts.length >= 200) { return; }
      pts.push([Math.round(lat * 1e6) / 1e6, Math.round(lon * 1e6) / 1e6]);
      setRoute(pts);
      return;
    }
    var fieldset = active || pins()[pins().length - 1];
    var where = fieldset.querySelector(".pin-where");
    if (!inside(lat, lon)) {
      where.textContent = mapBox.dataset.outside;
      return;
    }
    fieldset.querySelector(".pin-lat").value = lat.toFixed(6);
    fieldset.querySelector(".pin-lon").value = lon.toFixed(6);
    fieldset.querySelector(".pin-place").value = "";
    fieldset.querySelector(".pin-address").value = "";
    where.textContent = mapBox.dataset.marked;
    setMarker(fieldset, lat, lon);
    save();
  }

  /* --- the started answer, kept in the browser ------------------------------------------ */

  function save() {
    if (!storage) { return; }
    var values = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "website") { return; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
      values.push([el.name, el.value]);
    });
    var data = { pins: pins().map(function (p) { return p.dataset.pin; }), values: values };
    try { storage.setItem(storageKey(slug), JSON.stringify(data)); } catch (e) { /* full: ignore */ }
  }

  function restore() {
    if (!storage) { return; }
    var raw = storage.getItem(storageKey(slug));
    if (!raw) { return; }
    var data;
    try { data = JSON.parse(raw); } catch (e) { return; }
    if (!data || !Array.isArray(data.pins) || !Array.isArray(data.values)) { return; }
    pins().forEach(function (p) { p.remove(); });
    data.pins.slice(0, maxPins).forEach(function (i) {
      if (/^\d+$/.test(String(i))) { addPin(parseInt(i, 10), false); }
    });
    if (!pins().length) { addPin(0, false); }
    data.values.forEach(function (pair) {
      var name = pair[0], value = pair[1];
      var els = form.querySelectorAll('[name="' + String(name).replace(/"/g, "") + '"]');
      Array.prototype.forEach.call(els, function (el) {
        if (el.type === "checkbox" || el.type === "radio") {
          if (el.value === value) { el.checked = true; }
        } else if (el.name !== "campaign") {
          el.value = value;
        }
      });
    });
  }

  /* --- start ------------------------------------------------------------------------------ */

  if (typeof L !== "undefined") {
    mapBox.hidden = false;
    document.getElementById("map-help").hidden = false;
    map = L.map(mapBox, { scrollWheelZoom: false });
    map.fitBounds(JSON.parse(mapBox.dataset.bounds));
    window.tryggkartaPage.background(map, mapBox);
    if (outline.length > 2) {
      L.polygon(outline, { color: "#1d4e89", weight: 2, fill: false, interactive: false }).addTo(map);
    }
    map.on("click", function (ev) { placeAt(ev.latlng.lat, ev.latlng.lng); });
    routeLine = L.polyline([], { color: "#b3261e", weight: 4, interactive: false }).addTo(map);
    routeBox.hidden = false;
    routeButton.addEventListener("click", function () { toggleDrawing(!drawing); });
    document.getElementById("route-undo").addEventListener("click", function () {
      var pts = routePoints();
      pts.pop();
      setRoute(pts);
    });
    document.getElementById("route-clear").addEventListener("click", function () {
      toggleDrawing(false);
      setRoute([]);
    });
  }
  addButton.hidden = false;
  document.getElementById("draft-note").hidden = false;
  pins().forEach(wire);
  if (!serverErrors) { restore(); } else { document.getElementById("error-summary").focus(); }
  if (storage && storage.getItem(answeredKey(slug)) === "1") {
    document.getElementById("repeat").value = "1";
  }
  pins().forEach(function (p) {
    var lat = parseFloat(p.querySelector(".pin-lat").value);
    var lon = parseFloat(p.querySelector(".pin-lon").value);
    if (isFinite(lat) && isFinite(lon)) {
      setMarker(p, lat, lon);
      var named = p.querySelector(".pin-address").value.trim();
      p.querySelector(".pin-where").textContent = named ? form.dataset.chosen.replace("%(name)s", named) : mapBox.dataset.marked;
    }
  });
  renumber();
  active = pins()[0];
  if (routeLine) { showRoute(); }
  save();

  addButton.addEventListener("click", function () {
    if (pins().length < maxPins) { addPin(undefined, true); save(); }
  });
  form.addEventListener("input", save);
  form.addEventListener("change", save);

  var sending = false;
  form.addEventListener("submit", function (ev) {
    save();
    if (navigator.onLine === false) {
      ev.preventDefault();
      document.getElementById("send-status").textContent = form.dataset.offline || "";
      window.addEventListener("online", function () { form.requestSubmit(); }, { once: true });
      return;
    }
    if (sending) { ev.preventDefault(); return; }
    sending = true;
  });
})();
