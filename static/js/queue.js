// The queue asks every few seconds whether leads were assigned to me since the page loaded
// (new ones, and older ones reassigned or claimed: the poll sends both baselines, and the ids
// past them it was already told of, so a lead is news once however late its commit landed).
// If so, it reloads just the rows of this tab, updates every tab's count and puts the "new"
// count in the page title.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  if (!queue || !window.fetch) { return; }
  var seconds = parseInt(queue.dataset.pollSeconds, 10) || 15;
  var baseTitle = document.title.replace(/^\(\d+\+?\) /, "");
  var busy = false;

  function setCounts(counts) {
    if (!counts) { return; }
    Object.keys(counts).forEach(function (tab) {
      var badge = document.querySelector('[data-count="' + tab + '"]');
      if (badge) { badge.textContent = counts[tab]; }
    });
    var count = counts["new"];
    document.title = (count && count !== "0" ? "(" + count + ") " : "") + baseTitle;
  }

  function refreshRows() {
    return fetch(queue.dataset.rowsUrl, {credentials: "same-origin",
                                         headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        document.getElementById("queue-rows").innerHTML = html;
        if (window.leadcrmCountdown) { window.leadcrmCountdown(); }
      });
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(queue.dataset.pollUrl + "?after=" + encodeURIComponent(queue.dataset.newestId) +
          "&notice=" + encodeURIComponent(queue.dataset.newestNotice || "0") +
          "&seen=" + encodeURIComponent(queue.dataset.seen || ""),
          {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        // The baselines move on every answer (they stay a little behind the newest lead).
        queue.dataset.newestId = data.newest_id;
        queue.dataset.newestNotice = data.newest_notice;
        queue.dataset.seen = (data.seen || []).join(",");
        if (!data.arrived) { return null; }
        setCounts(data.counts);
        var note = document.getElementById("arrivals");
        note.textContent = data.arrived + (data.arrived === 1 ? " new lead" : " new leads");
        note.classList.remove("d-none");
        return refreshRows();
      })
      .catch(function () { /* offline or signed out: try again on the next tick */ })
      .then(function () { busy = false; });
  }
  setInterval(poll, seconds * 1000);
})();
