/* leadcrm live chat widget. Embed with one tag:
 *   <script src="https://crm.example.com/static/chat/widget.js" data-widget="KEY" async></script>
 * No dependencies. Everything lives in a shadow root styled by widget.css from the same origin
 * (a <link>, so a host page's CSP needs only script-src, style-src and connect-src for that
 * origin: no eval, no inline script, no inline style). Messages are always rendered as text.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch || !document.body || !document.body.attachShadow) { return; }
  var key = script.getAttribute("data-widget") || "";
  var scriptUrl = new URL(script.src, document.baseURI);
  var api = scriptUrl.origin + "/chat/w/" + encodeURIComponent(key) + "/";
  var storeKey = "leadcrm-chat:" + key;
  var LABELS = {first_name: "First name", last_name: "Last name", email: "Email",
                phone: "Phone", company: "Company"};
  var TYPES = {email: "email", phone: "tel"};
  var AUTOCOMPLETE = {first_name: "given-name", last_name: "family-name", email: "email",
                      phone: "tel", company: "organization"};

  var state = {token: readToken(), after: 0, config: null, open: false, timer: null,
               busy: false, contactShown: false, contactLeft: false, seen: {}};

  function readToken() {
    try { return window.localStorage.getItem(storeKey) || ""; } catch (e) { return ""; }
  }
  function saveToken(token) {
    state.token = token || "";
    try {
      if (token) { window.localStorage.setItem(storeKey, token); }
      else { window.localStorage.removeItem(storeKey); }
    } catch (e) { /* private mode: the chat lasts as long as the page */ }
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "hidden") { node.hidden = attrs[name]; } else { node.setAttribute(name, attrs[name]); }
    });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function request(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (state.token) { headers["X-Chat-Token"] = state.token; }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(api + path, {method: method, headers: headers, mode: "cors",
                              credentials: "omit",
                              body: body === undefined ? undefined : JSON.stringify(body)})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) {
            var error = new Error(data.error || "The chat is not reachable right now.");
            error.status = r.status;
            error.fields = data.fields || {};
            throw error;
          }
          return data;
        });
      }, function () {
        // No answer at all (the network dropped, the browser's "Failed to fetch"): leadcrm may
        // or may not have the message. Sending again is safe: a retry keeps its message id.
        var error = new Error("We could not reach the chat: check your connection, then " +
                              "press Send again.");
        error.status = 0;
        error.fields = {};
        throw error;
      });
  }

  // The message being sent and its id, kept until leadcrm answers: a visitor who presses
  // Send again after a lost answer resends the same message under the same id, so leadcrm
  // stores it once (and a first message opens one chat, not two).
  var outgoing = null;

  function messageId(message) {
    if (!outgoing || outgoing.text !== message) { outgoing = {text: message, id: clientId()}; }
    return outgoing.id;
  }

  function clientId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // --- the DOM, inside a shadow root ----------------------------------------------------
  var host = el("div", {"data-leadcrm-chat": ""});
  document.body.appendChild(host);
  var root = host.attachShadow({mode: "open"});
  var sheet = el("link", {rel: "stylesheet", href: new URL("widget.css", scriptUrl).href});
  var box = el("div", {"class": "lc", hidden: true});
  sheet.addEventListener("load", function () { box.hidden = false; });
  root.appendChild(sheet);
  root.appendChild(box);

  var launcher = el("button", {type: "button", "class": "lc-launcher", "aria-expanded": "false",
                               "aria-controls": "lc-panel"}, "Chat with us");
  var panel = el("section", {id: "lc-panel", "class": "lc-panel", role: "dialog",
                             "aria-labelledby": "lc-title", hidden: true});
  var header = el("header", {"class": "lc-header"});
  var title = el("h2", {id: "lc-title", "class": "lc-title"}, "Chat");
  var status = el("span", {"class": "lc-status"});
  var close = el("button", {type: "button", "class": "lc-close", "aria-label": "Close the chat"},
                 "\u00d7");
  header.appendChild(title);
  header.appendChild(status);
  header.appendChild(close);
  var log = el("ol", {"class": "lc-log", role: "log", "aria-live": "polite",
                      "aria-label": "Messages"});
  var notice = el("p", {"class": "lc-notice", role: "status", hidden: true});
  var error = el("p", {"class": "lc-error", role: "alert", hidden: true});

  var contactForm = el("form", {"class": "lc-contact", hidden: true, novalidate: ""});
  var contactIntro = el("p", {"class": "lc-contact-intro"});
  contactForm.appendChild(contactIntro);
  var contactInputs = {};
  var contactButton = el("button", {type: "submit", "class": "lc-button"}, "Send my details");

  var form = el("form", {"class": "lc-form", novalidate: ""});
  var prechat = el("div", {"class": "lc-prechat"});
  var prechatInputs = {};
  var textLabel = el("label", {"for": "lc-text", "class": "lc-sr"}, "Your message");
  var text = el("textarea", {id: "lc-text", "class": "lc-text", rows: "2",
                             placeholder: "Write a message…"});
  var send = el("button", {type: "submit", "class": "lc-button"}, "Send");
  form.appendChild(prechat);
  form.appendChild(textLabel);
  var row = el("div", {"class": "lc-row"});
  row.appendChild(text);
  row.appendChild(send);
  form.appendChild(row);

  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(notice);
  panel.appendChild(contactForm);
  panel.appendChild(error);
  panel.appendChild(form);
  box.appendChild(panel);
  box.appendChild(launcher);

  function field(container, inputs, name, prefix) {
    var id = prefix + name;
    var wrap = el("div", {"class": "lc-field"});
    wrap.appendChild(el("label", {"for": id}, LABELS[name]));
    var input = el("input", {id: id, name: name, type: TYPES[name] || "text",
                             autocomplete: AUTOCOMPLETE[name] || "on"});
    var message = el("span", {"class": "lc-field-error", id: id + "-error", hidden: true});
    input.setAttribute("aria-describedby", id + "-error");
    wrap.appendChild(input);
    wrap.appendChild(message);
    container.appendChild(wrap);
    inputs[name] = {input: input, error: message};
  }

  function values(inputs) {
    var out = {};
    Object.keys(inputs).forEach(function (name) {
      var value = inputs[name].input.value.trim();
      if (value) { out[name] = value; }
    });
    return out;
  }

  function showFieldErrors(inputs, errors) {
    Object.keys(inputs).forEach(function (name) {
      var message = errors && errors[name];
      inputs[name].error.textContent = message || "";
      inputs[name].error.hidden = !message;
      inputs[name].input.setAttribute("aria-invalid", message ? "true" : "false");
    });
  }

  function say(node, message) {
    node.textContent = message || "";
    node.hidden = !message;
  }

  var pending = [];  // sent and stored, not yet taken in (shown greyed until the poll has it)

  function addPending(message) {
    var item = el("li", {"class": "lc-msg lc-msg-visitor lc-pending"});
    item.appendChild(el("span", {"class": "lc-who"}, "You · sent"));
    item.appendChild(el("span", {"class": "lc-body"}, message));
    log.appendChild(item);
    pending.push({text: message, node: item});
  }

  function addMessage(m) {
    if (state.seen[m.id]) { return; }
    state.seen[m.id] = true;
    for (var i = 0; i < pending.length; i++) {
      if (m.from === "visitor" && pending[i].text === m.text) {
        pending[i].node.remove();
        pending.splice(i, 1);
        break;
      }
    }
    state.after = Math.max(state.after, m.id);
    var item = el("li", {"class": "lc-msg lc-msg-" + (m.from === "visitor" ? "visitor" : "rep")});
    item.appendChild(el("span", {"class": "lc-who"}, m.from === "visitor" ? "You" : (m.name || "Us")));
    item.appendChild(el("span", {"class": "lc-body"}, m.text));  // text, never HTML
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    if (!state.open && m.from !== "visitor") { launcher.classList.add("lc-unread"); }
  }

  function showContact(intro, reason) {
    if (state.contactLeft) { return; }
    contactForm.dataset.reason = reason;
    contactIntro.textContent = intro;
    if (!state.contactShown) {
      state.contactShown = true;
      ["first_name", "email", "phone"].forEach(function (name) {
        field(contactForm, contactInputs, name, "lc-contact-");
      });
      contactForm.appendChild(contactButton);
    }
    contactForm.hidden = false;
  }

  function applyState(data) {
    var online = !!data.online;
    // The header says what the body says: nobody answered, or the chat was handed over to
    // the details the visitor left, reads as offline too.
    var answering = online && !data.no_answer && data.status !== "offline";
    status.textContent = answering ? "Online" : "Offline";
    status.className = "lc-status " + (answering ? "lc-online" : "lc-offline");
    state.contactLeft = state.contactLeft || !!data.contact_left;
    if (state.contactLeft) { contactForm.hidden = true; return; }
    if (!online || data.no_answer) {
      if (!state.token) { prechat.hidden = true; }  // the contact form asks for the same
      say(notice, state.config.offline_message);
      showContact(state.token ? "Leave your email or phone and we will get back to you."
                              : "Your email or phone, so we can answer:", "offline");
    }
  }

  // --- talking to leadcrm --------------------------------------------------------------
  function poll() {
    if (!state.token || state.busy) { return Promise.resolve(); }
    state.busy = true;
    return request("GET", "messages/?after=" + state.after)
      .then(function (data) { data.messages.forEach(addMessage); applyState(data); })
      .catch(function (exc) { if (exc.status === 404) { saveToken(""); stopPolling(); } })
      .then(function () { state.busy = false; });
  }

  function startPolling() {
    stopPolling();
    var seconds = (state.config && state.config.poll_seconds) || 3;
    state.timer = window.setInterval(function () {
      if (!document.hidden) { poll(); }
    }, seconds * 1000 * (state.open ? 1 : 4));
  }
  function stopPolling() {
    if (state.timer) { window.clearInterval(state.timer); state.timer = null; }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var message = text.value.trim();
    say(error, "");
    if (!message) { say(error, "Write a message first."); text.focus(); return; }
    var body = {text: message, client_id: messageId(message),
                page: {url: window.location.href, referrer: document.referrer}};
    var fields = values(prechatInputs);
    if (!contactForm.hidden) {  // offline: the details the message may carry go with it
      var details = values(contactInputs);  // (all of them go to contact/ once it is stored)
      Object.keys(details).forEach(function (name) {
        if (state.config.prechat_fields.indexOf(name) >= 0) { fields[name] = details[name]; }
      });
    }
    if (Object.keys(fields).length) { body.fields = fields; }
    send.disabled = true;
    request("POST", "messages/", body)
      .then(function (data) {
        outgoing = null;
        saveToken(data.token);
        text.value = "";
        showFieldErrors(prechatInputs, {});
        prechat.hidden = true;
        startPolling();
        var before = state.after;
        return poll().then(function () {
          if (state.after === before) { addPending(message); }
          return data;
        });
      })
      .then(function (data) {
        var details = values(contactInputs);
        if (!contactForm.hidden && (details.email || details.phone)) {
          return sendContact();
        }
        if (state.config.prechat_mode === "during" && !state.contactLeft && data.online) {
          showContact("Leave your details so we can reach you if we get cut off.", "details");
        }
        return null;
      })
      .catch(function (exc) {
        // leadcrm refused it (a 4xx): nothing was taken, an edited or later send is new.
        if (exc.status >= 400 && exc.status < 500) { outgoing = null; }
        say(error, exc.message);  // the text stays in the box: nothing typed is lost
        showFieldErrors(prechatInputs, exc.fields);
        showFieldErrors(contactInputs, exc.fields);
      })
      .then(function () { send.disabled = false; text.focus(); });
  });

  function sendContact() {
    var details = values(contactInputs);
    if (!details.email && !details.phone) {
      showFieldErrors(contactInputs, {email: "Give an email address or a phone number."});
      return Promise.resolve();
    }
    if (!state.token) {  // offline before the first message: the details wait for it
      say(error, "Write your message too, then press Send.");
      text.focus();
      return Promise.resolve();
    }
    contactButton.disabled = true;
    return request("POST", "contact/", {fields: details,
                                        reason: contactForm.dataset.reason || "offline"})
      .then(function () {
        state.contactLeft = true;
        contactForm.hidden = true;
        showFieldErrors(contactInputs, {});
        say(notice, "Thank you! We will get back to you at " +
            (details.email || details.phone) + ".");
      })
      .catch(function (exc) {
        say(error, exc.message);
        showFieldErrors(contactInputs, exc.fields);
      })
      .then(function () { contactButton.disabled = false; });
  }

  contactForm.addEventListener("submit", function (event) {
    event.preventDefault();
    say(error, "");
    sendContact();
  });

  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  function setOpen(open) {
    state.open = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.classList.remove("lc-unread");
    if (state.token) { startPolling(); }
    if (open) {
      var first = prechat.hidden ? null : prechat.querySelector("input");
      (first || text).focus();
    } else {
      launcher.focus();
    }
  }
  launcher.addEventListener("click", function () { setOpen(!state.open); });
  close.addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { setOpen(false); }
  });

  // --- start -----------------------------------------------------------------------------
  request("GET", "config/")
    .then(function (config) {
      state.config = config;
      title.textContent = config.name;
      text.setAttribute("maxlength", String(config.max_chars || 2000));
      log.appendChild(el("li", {"class": "lc-msg lc-msg-rep lc-greeting"}, config.greeting));
      if (state.token && !config.conversation) { saveToken(""); }
      if (!state.token && config.prechat_mode === "before") {
        config.prechat_fields.forEach(function (name) {
          if (LABELS[name]) { field(prechat, prechatInputs, name, "lc-pre-"); }
        });
      }
      prechat.hidden = !!state.token || !prechat.children.length;
      applyState(config);
      if (state.token) { poll(); startPolling(); }
    })
    .catch(function () { host.remove(); });  // a refused site or a wrong key: show nothing
}());
