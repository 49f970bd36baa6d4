"""The gallery wall's page, for a browser in kiosk mode on a second screen: one portrait at a time, filling the
screen; a new one is shown as soon as it is finished, and when nothing new comes the wall moves on to the next
every ``cycle_seconds``. A removed portrait leaves the screen at once, without a fade.

It reads ``/wall/events`` (``wall.Wall.stream``) and fetches each picture with the page's own ``?token=``. For
tests and operators it states what it shows on ``<body>``: ``data-shown`` (the id on screen, empty for none) and
``data-count``.
"""

from __future__ import annotations

# Static text only: nothing here is filled in from a request (no injection), and nothing names anybody.
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Portrait wall</title>
<style>
  html, body { margin: 0; height: 100%; overflow: hidden; background: #101010; cursor: none; }
  .slide { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain;
           opacity: 0; transition: opacity 0.8s ease-in-out; }
  .slide.on { opacity: 1; }
  #empty { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
           color: #6b6b6b; font: 300 4vmin/1.4 system-ui, sans-serif; text-align: center; }
  body:not([data-shown=""]) #empty { display: none; }
</style>
</head>
<body data-shown="" data-count="0">
<div id="empty">Portraits appear here<br>Hier erscheinen die Portr&auml;ts</div>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const query = token ? "?token=" + encodeURIComponent(token) : "";
let portraits = [];  // newest first: {id, url}
let size = 24, cycleMs = 8000, current = null, timer = null;

function slides() { return Array.from(document.querySelectorAll(".slide")); }

function state() {
  document.body.dataset.shown = current || "";
  document.body.dataset.count = String(portraits.length);
}

function show(portrait) {
  clearTimeout(timer);
  timer = setTimeout(next, cycleMs);
  if (!portrait) { current = null; slides().forEach(s => s.remove()); state(); return; }
  if (portrait.id === current) return;
  const img = new Image();
  img.className = "slide";
  img.alt = "";
  img.dataset.id = portrait.id;
  img.onload = () => {
    if (!portraits.some(p => p.id === portrait.id)) { img.remove(); return; }  // removed while it loaded
    const before = slides().filter(s => s !== img);
    img.classList.add("on");
    current = portrait.id;
    state();
    setTimeout(() => before.forEach(s => s.remove()), 900);  // after the fade
  };
  img.onerror = () => { img.remove(); drop(portrait.id); };  // erased meanwhile
  img.src = portrait.url + query;
  document.body.appendChild(img);
}

function next() {
  const at = portraits.findIndex(p => p.id === current);
  show(portraits.length ? portraits[(at + 1) % portraits.length] : null);
}

function drop(id) {
  portraits = portraits.filter(p => p.id !== id);
  slides().filter(s => s.dataset.id === id).forEach(s => s.remove());  // at once: no fade for a removal
  if (current === id) { current = null; next(); }
  state();
}

function connect() {
  const events = new EventSource("/wall/events" + query);
  events.addEventListener("snapshot", e => {
    const snapshot = JSON.parse(e.data);
    size = snapshot.size;
    cycleMs = snapshot.cycle_seconds * 1000;
    portraits = snapshot.portraits;
    slides().filter(s => !portraits.some(p => p.id === s.dataset.id)).forEach(s => s.remove());
    if (!portraits.some(p => p.id === current)) current = null;
    state();
    show(portraits.find(p => p.id === current) || portraits[0] || null);
  });
  events.addEventListener("add", e => {
    const portrait = JSON.parse(e.data);
    portraits = [portrait, ...portraits.filter(p => p.id !== portrait.id)];
    portraits.slice(size).forEach(p => drop(p.id));
    state();
    show(portrait);  // the newest at once
  });
  events.addEventListener("remove", e => drop(JSON.parse(e.data).id));
  events.onerror = () => {  // the browser retries a broken stream itself, but not a refused one
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
  };
}

connect();
</script>
</body>
</html>
"""
