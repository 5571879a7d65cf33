// Live countdowns: every element with data-respond-by (an ISO time) shows the time left,
// or how long ago the deadline passed, and turns yellow then red. Runs once a second.
(function () {
  "use strict";
  function pad(n) { return String(n).padStart(2, "0"); }
  function format(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h >= 48) { return Math.floor(h / 24) + " d " + (h % 24) + " h"; }
    return (h ? h + ":" + pad(m) : m) + ":" + pad(sec);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-respond-by]").forEach(function (el) {
      var due = Date.parse(el.dataset.respondBy);
      if (isNaN(due)) { return; }
      var left = due - now;
      el.textContent = left >= 0 ? format(left) + " left" : format(left) + " overdue";
      el.classList.toggle("text-bg-danger", left < 0);
      el.classList.toggle("text-bg-warning", left >= 0 && left < 5 * 60 * 1000);
      el.classList.toggle("text-bg-info", left >= 5 * 60 * 1000);
    });
  }
  tick();
  setInterval(tick, 1000);
  window.leadcrmCountdown = tick;  // queue.js calls it after replacing rows
})();
