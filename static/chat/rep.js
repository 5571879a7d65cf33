// The rep's side of the live chat. On the lead page: poll the chat every few seconds, append
// new messages as text, send replies without a reload. On the queue page: refresh the
// "waiting chats" box. Short polls only; nothing waits on the server.
(function () {
  "use strict";
  if (!window.fetch) { return; }

  function every(seconds, fn) {
    var ms = Math.max(1, seconds || 3) * 1000;
    window.setInterval(function () { if (!document.hidden) { fn(); } }, ms);
  }

  function waited(seconds) {
    if (seconds < 60) { return seconds + " s"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s"; }
    return Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min";
  }

  var panel = document.getElementById("chat-panel");
  if (panel) {
    var log = document.getElementById("chat-log");
    var form = document.getElementById("chat-reply");
    var text = document.getElementById("chat-reply-text");
    var error = document.getElementById("chat-error");
    var badge = document.getElementById("chat-waiting");
    var offline = document.getElementById("chat-offline");
    var abandoned = document.getElementById("chat-abandoned");
    var busy = false;
    var clockStopped = false;

    // The page header's SLA badge, countdown and first-response line (rendered by the lead
    // page): once a first reply stops the clock they say so, and the countdown goes.
    var SLA_CLASSES = {met: "success", breached: "danger", warning: "warning"};
    var showClock = function (clock) {
      if (clockStopped || !clock || !clock.first_response_at) { return; }
      clockStopped = true;
      var sla = document.getElementById("sla-state");
      if (sla) {
        sla.className = "badge text-bg-" + (SLA_CLASSES[clock.sla] || "info");
        sla.textContent = "SLA: " + clock.sla_label;
      }
      document.querySelectorAll(".countdown[data-respond-by]").forEach(function (node) {
        node.remove();  // countdown.js ticks whatever has data-respond-by
      });
      var line = document.getElementById("first-response");
      if (line) {
        var at = document.createElement("time");
        at.setAttribute("datetime", clock.first_response_at);
        at.textContent = clock.first_response_text;
        line.textContent = "First response: ";
        line.appendChild(at);
        line.appendChild(document.createTextNode(
          " (" + clock.first_response_after + " after capture)"));
      }
    };

    var showWaiting = function (data) {
      if (data.waiting_seconds === null || data.waiting_seconds === undefined) {
        badge.classList.add("d-none");
        badge.textContent = "";
      } else {
        badge.textContent = "Visitor waiting " + waited(data.waiting_seconds);
        badge.classList.remove("d-none");
      }
      if (offline) { offline.classList.toggle("d-none", data.status !== "offline"); }
      if (abandoned) { abandoned.classList.toggle("d-none", data.status !== "abandoned"); }
    };

    var append = function (m) {
      if (log.querySelector('[data-id="' + m.id + '"]')) { return; }
      var empty = log.querySelector(".chat-empty");
      if (empty) { empty.remove(); }
      var li = document.createElement("li");
      li.className = "chat-msg chat-msg-" + (m.from === "visitor" ? "visitor" : "rep");
      li.dataset.id = m.id;
      var who = document.createElement("span");
      who.className = "chat-who";
      who.textContent = m.from === "visitor" ? "Visitor" : (m.name || "Rep");
      var body = document.createElement("span");
      body.className = "chat-text";
      body.textContent = m.text;  // always text: a visitor's <img onerror> stays characters
      li.appendChild(who);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(body);
      log.appendChild(li);
      log.scrollTop = log.scrollHeight;
      panel.dataset.after = Math.max(parseInt(panel.dataset.after, 10) || 0, m.id);
    };

    var poll = function () {
      if (busy) { return; }
      busy = true;
      fetch(panel.dataset.pollUrl + "?after=" + encodeURIComponent(panel.dataset.after),
            {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          data.messages.forEach(append);
          showWaiting(data);
          showClock(data.clock);
        })
        .catch(function () { /* the next poll tries again */ })
        .then(function () { busy = false; });
    };

    // A chat that has ended has no reply box: the page still shows what arrives.
    if (form) {
      var sendButton = form.querySelector("button[type=submit]");
      var sending = false;  // a double click (or Enter pressed twice) sends one reply

      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (sending || !text.value.trim()) { return; }
        sending = true;
        sendButton.disabled = true;
        error.classList.add("d-none");
        var body = new FormData(form);
        fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                            headers: {"Accept": "application/json"}})
          .then(function (r) {
            return r.json().then(function (d) { return [r.ok, d]; }, function () {
              // Not leadcrm's JSON: the sign-in page it was sent to, or an error page.
              return [false, {error: r.redirected || r.status === 403
                ? "The reply was not sent: you are signed out (or this page is out of date). " +
                  "Reload the page and send it again."
                : "The reply was not sent (error " + r.status + "). Send it again."}];
            });
          }, function () {
            throw new Error("The reply was not sent: leadcrm could not be reached. Check your " +
                            "connection and send it again.");
          })
          .then(function (result) {
            if (!result[0]) { throw new Error(result[1].error || "The reply was not sent."); }
            append(result[1].message);
            text.value = "";
            badge.classList.add("d-none");
            showClock(result[1].clock);
            text.focus();
          })
          .catch(function (exc) {
            error.textContent = exc.message || "The reply was not sent.";
            error.classList.remove("d-none");
          })
          .then(function () { sending = false; sendButton.disabled = false; });
      });
      text.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          form.requestSubmit();
        }
      });
    }
    every(parseInt(panel.dataset.pollSeconds, 10), poll);
  }

  var box = document.getElementById("chat-waiting-box");
  if (box) {
    every(parseInt(box.dataset.pollSeconds, 10), function () {
      fetch(box.dataset.refreshUrl, {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { box.innerHTML = html; })
        .catch(function () { /* the next poll tries again */ });
    });
  }
}());
