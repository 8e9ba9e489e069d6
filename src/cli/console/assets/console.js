// The silos console's one script: live updates. The pages are whole without it; with it,
// each lifecycle event (server-sent, from the console's own subscription) updates the
// tenant's status, health and drift wherever the page shows them, and joins the timeline.
"use strict";
(function () {
  var state = document.getElementById("live-state");
  if (!window.EventSource || !state) { return; }
  // The events after the last one the page was rendered with: none is missed in between.
  // On a reconnect the browser sends the last id it had (Last-Event-ID), which wins.
  var source = new EventSource("/events?after=" + encodeURIComponent(document.body.dataset.seq || "0"));
  source.addEventListener("open", function () {
    state.textContent = "live";
    state.className = "live on";
    document.body.dataset.live = "on";
  });
  source.addEventListener("error", function () {
    state.textContent = "live updates reconnecting";
    state.className = "live";
  });
  function set(holder, field, value) {
    if (value === null || value === undefined) { return; }
    holder.querySelectorAll('[data-field="' + field + '"]').forEach(function (el) {
      el.textContent = value;
      if (field === "status") { el.className = "status s-" + value; }
    });
  }
  function item(e) {
    var li = document.createElement("li");
    var time = document.createElement("time");
    time.textContent = e.at;
    time.dataset.ms = e.atMs;
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = e.kind;
    var status = document.createElement("span");
    status.className = "status s-" + e.status;
    status.textContent = e.status;
    li.append(time, " ", kind, " " + e.tenantName + " " + (e.previous || "new") + " \u2192 ", status);
    if (e.reason) { li.append(": " + e.reason); }
    return li;
  }
  source.addEventListener("lifecycle", function (message) {
    var e;
    try { e = JSON.parse(message.data); } catch (err) { return; }
    document.querySelectorAll('[data-tenant="' + CSS.escape(e.tenantId) + '"]').forEach(function (holder) {
      set(holder, "status", e.status);
      set(holder, "health", e.health);
      set(holder, "drift", e.drift);
    });
    var reason = document.getElementById("tenant-reason");
    var here = document.querySelector('#events[data-tenant="' + CSS.escape(e.tenantId) + '"]');
    if (reason && here) { reason.textContent = e.reason || ""; }
    var list = here || document.querySelector('#events[data-tenant=""]');
    if (list) {
      var empty = list.querySelector(".empty");
      if (empty) { empty.remove(); }
      list.prepend(item(e));
    }
    document.body.dataset.lastEvent = e.tenantId + ":" + e.status;
  });
  source.addEventListener("lagged", function () { window.location.reload(); });

  // A fleet upgrade's page: each change of the run sets the elements that show it.
  if (document.getElementById("run") || document.getElementById("upgrade")) {
    var upgrade = new EventSource("/upgrade/events");
    var shown = document.getElementById("run-state");
    upgrade.addEventListener("upgrade", function (message) {
      var fields;
      try { fields = JSON.parse(message.data); } catch (err) { return; }
      // A run the page does not show (started elsewhere): the page must be read again.
      if (!shown && fields.state) { window.location.reload(); return; }
      Object.keys(fields).forEach(function (key) {
        document.querySelectorAll('[data-upgrade="' + CSS.escape(key) + '"]').forEach(function (el) {
          el.textContent = fields[key];
        });
      });
      document.body.dataset.upgrade = fields.state || "";
    });
  }
})();
