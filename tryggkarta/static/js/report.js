/* The EST report form (/rapport): a place from a map tap or the phone's position, and an
 * offline-tolerant send. Each report gets an id made here (crypto.randomUUID) and goes into a
 * queue in localStorage before it is sent; it leaves the queue only when the server has
 * answered (stored, or already stored), so a report typed without network is sent when the
 * network returns, and a re-send stores nothing twice. Corrections (/rapport/<id>) post
 * normally. No inline script (CSP). */
(function () {
  "use strict";

  var QUEUE = "tryggkarta-report-queue";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var editing = form.dataset.mode === "edit";
  var mapBox = document.getElementById("report-map");
  var latInput = document.getElementById("lat");
  var lonInput = document.getElementById("lon");
  var placeStatus = document.getElementById("place-status");
  var statusLine = document.getElementById("report-status");
  var queueBox = document.getElementById("queue-box");
  var queueList = document.getElementById("report-queue");
  var outline = JSON.parse(mapBox.dataset.outline || "[]");
  var map = null;
  var marker = null;
  var sending = false;

  function store() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var a = new Uint8Array(16);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function nowLocal() {
    var d = new Date();
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function inside(lat, lon) {
    return window.tryggkartaPage.insideRing(outline, lat, lon);
  }

  function placeAt(lat, lon, pan) {
    if (!inside(lat, lon)) { placeStatus.textContent = mapBox.dataset.outside; return; }
    latInput.value = lat.toFixed(6);
    lonInput.value = lon.toFixed(6);
    placeStatus.textContent = mapBox.dataset.marked;
    if (!map) { return; }
    if (marker) { marker.setLatLng([lat, lon]); } else {
      marker = L.marker([lat, lon], { keyboard: false, title: mapBox.dataset.markerLabel }).addTo(map);
    }
    if (pan) { map.setView([lat, lon], Math.max(map.getZoom(), 16)); }
  }

  function clearPlace() {
    latInput.value = "";
    lonInput.value = "";
    placeStatus.textContent = "";
    if (marker) { map.removeLayer(marker); marker = null; }
  }

  /* --- the queue ---------------------------------------------------------------------------- */

  function readQueue() {
    var s = store();
    if (!s) { return []; }
    try {
      var q = JSON.parse(s.getItem(QUEUE) || "[]");
      return Array.isArray(q) ? q : [];
    } catch (e) { return []; }
  }

  function writeQueue(q) {
    var s = store();
    if (!s) { return; }
    try { s.setItem(QUEUE, JSON.stringify(q)); } catch (e) { /* full: the report stays in the form */ }
    showQueue(q);
  }

  function showQueue(q) {
    if (!queueList) { return; }
    queueList.textContent = "";
    q.forEach(function (item) {
      var li = document.createElement("li");
      var sel = form.querySelector('#category option[value="' + String(item.category || "").replace(/"/g, "") + '"]');
      li.textContent = (item.occurred_at || "").replace("T", " ") + " – " + (sel ? sel.textContent : item.category) + " – " + form.dataset.waiting;
      queueList.appendChild(li);
    });
    queueBox.hidden = q.length === 0;
  }

  function fields() {
    var out = {};
    ["client_id", "lat", "lon", "category", "occurred_at", "description", "address"].forEach(function (name) {
      out[name] = form.elements[name].value;
    });
    return out;
  }

  function fill(item) {
    Object.keys(item).forEach(function (name) {
      if (form.elements[name]) { form.elements[name].value = item[name]; }
    });
    var lat = parseFloat(item.lat), lon = parseFloat(item.lon);
    if (isFinite(lat) && isFinite(lon)) { placeAt(lat, lon, false); }
  }

  function resetForm() {
    form.elements.client_id.value = newId();
    form.elements.category.value = "";
    form.elements.description.value = "";
    form.elements.address.value = "";
    form.elements.occurred_at.value = nowLocal();
    clearPlace();
  }

  function showErrors(errors) {
    form.querySelectorAll(".field-error.js").forEach(function (el) { el.remove(); });
    var first = null;
    Object.keys(errors).forEach(function (key) {
      var p = document.createElement("p");
      p.className = "field-error js";
      p.id = "err-" + key;
      p.textContent = errors[key];
      var anchor = key === "place" ? placeStatus : (form.elements[key] || statusLine);
      anchor.insertAdjacentElement("afterend", p);
      if (!first && form.elements[key] && form.elements[key].focus) { first = form.elements[key]; }
    });
    statusLine.textContent = form.dataset.failed;
    if (first) { first.focus(); }
  }

  function flush() {
    if (sending) { return; }
    var q = readQueue();
    if (!q.length) { return; }
    if (navigator.onLine === false) { statusLine.textContent = form.dataset.queued; return; }
    sending = true;
    var item = q[0];
    var body = new URLSearchParams(item);
    body.set("csrf_token", form.elements.csrf_token.value);
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    }).then(function (answer) {
      sending = false;
      var rest = readQueue().filter(function (x) { return x.client_id !== item.client_id; });
      if ((answer.status === 200 || answer.status === 201) && answer.data.id) {
        writeQueue(rest);
        statusLine.textContent = answer.data.message || form.dataset.sent;
        flush();
      } else if (answer.status === 400 && answer.data.errors) {
        writeQueue(rest);  /* back into the form, with its id, to be corrected and sent again */
        fill(item);
        showErrors(answer.data.errors);
      } else if (answer.status === 200 || answer.status === 401 || answer.status === 403 ||
                 answer.data.code === "CSRF") {
        /* logged out (a login page instead of an answer) or a stale form: the report stays */
        statusLine.textContent = form.dataset.login;
      } else {
        statusLine.textContent = form.dataset.queued;
        window.setTimeout(flush, 30000);
      }
    }).catch(function () {
      sending = false;
      statusLine.textContent = form.dataset.queued;
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
    map.on("click", function (ev) { placeAt(ev.latlng.lat, ev.latlng.lng, false); });
    var lat0 = parseFloat(latInput.value), lon0 = parseFloat(lonInput.value);
    if (isFinite(lat0) && isFinite(lon0)) { placeAt(lat0, lon0, true); }
  }
  var positionButton = document.getElementById("use-position");
  if (navigator.geolocation) {
    positionButton.hidden = false;
    positionButton.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        placeAt(pos.coords.latitude, pos.coords.longitude, true);
      }, function () {
        placeStatus.textContent = mapBox.dataset.noPosition;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
  if (editing) { return; }
  if (!document.getElementById("error-summary")) {
    form.elements.client_id.value = newId();
    form.elements.occurred_at.value = nowLocal();
  }
  showQueue(readQueue());
  window.addEventListener("online", flush);
  flush();

  form.addEventListener("submit", function (ev) {
    if (!store()) { return; }  /* no storage: a normal post */
    ev.preventDefault();
    var item = fields();
    if (!item.client_id) { item.client_id = newId(); }
    var q = readQueue().filter(function (x) { return x.client_id !== item.client_id; });
    q.push(item);
    writeQueue(q);
    resetForm();
    if (navigator.onLine === false) { statusLine.textContent = form.dataset.queued; return; }
    flush();
  });
})();
