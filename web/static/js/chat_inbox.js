// The agents' chat inbox: new lines appear as the live stream names them, replies are sent
// without a page load (Enter sends, Shift+Enter is a new line), the customer's typing and
// read marks show, and the open page keeps the agent counted as online.
(function () {
  "use strict";
  var HEARTBEAT_MS = 30000;
  var TYPING_SHOW_MS = 5000;
  var TYPING_SEND_MS = 2500;
  var typingTimer = null;
  var lastTypingSent = 0;

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; }
    catch (e) { return ""; }
  }
  function pane() { return document.querySelector(".chat-conversation"); }
  function lastSeq(el) {
    var seq = 0;
    el.querySelectorAll(".chat-lines [data-seq]").forEach(function (li) {
      seq = Math.max(seq, parseInt(li.getAttribute("data-seq"), 10) || 0);
    });
    return seq;
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrftoken": csrf(), "content-type": "application/x-www-form-urlencoded", "hx-request": "true" },
      body: new URLSearchParams(body || {}).toString(),
    });
  }
  function append(el, html) {
    var list = el.querySelector(".chat-lines");
    var box = document.createElement("ol");
    box.innerHTML = html;
    Array.prototype.slice.call(box.children).forEach(function (li) {
      var seq = li.getAttribute("data-seq");
      if (!list.querySelector('[data-seq="' + seq + '"]')) { list.appendChild(li); }
    });
    showCustomerRead(el);
    list.scrollTop = list.scrollHeight;
    markRead(el);
  }
  // The customer's read mark can arrive before the line it covers: the agent's own reply is
  // added when its POST answers, which may be after the customer's widget has shown it and
  // said so. The pane keeps the highest seq read and marks every agent line up to it.
  function showCustomerRead(el, seq) {
    var read = parseInt(el.getAttribute("data-customer-read"), 10) || 0;
    if (seq > read) { read = seq; el.setAttribute("data-customer-read", String(read)); }
    el.querySelectorAll(".chat-line.chat-agent:not(.is-read)").forEach(function (li) {
      if ((parseInt(li.getAttribute("data-seq"), 10) || 0) <= read) li.classList.add("is-read");
    });
  }
  function markRead(el) {
    if (document.visibilityState !== "visible" || el.getAttribute("data-can-act") !== "true") return;
    var seq = lastSeq(el);
    if (seq > (parseInt(el.getAttribute("data-read"), 10) || 0)) {
      el.setAttribute("data-read", String(seq));
      post("/chat/c/" + el.getAttribute("data-conversation") + "/read", { seq: String(seq) });
    }
  }
  function fetchLines(el) {
    var id = el.getAttribute("data-conversation");
    return fetch("/chat/c/" + id + "/lines?after=" + lastSeq(el), { credentials: "same-origin", headers: { "hx-request": "true" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { if (html && pane() === el) append(el, html); });
  }
  function reloadPane(id) {
    if (window.htmx) { window.htmx.ajax("GET", "/chat/c/" + id, { target: "#chat-pane", swap: "innerHTML" }); }
  }

  // The live stream (htmx's SSE extension on <body>) names a conversation in every chat event.
  document.body.addEventListener("htmx:sseMessage", function (evt) {
    if (!evt.detail || (evt.detail.type !== "chat" && evt.detail.type !== "chat-typing")) return;
    var data;
    try { data = JSON.parse(evt.detail.data); } catch (e) { return; }
    var el = pane();
    if (!el || data.conversation !== el.getAttribute("data-conversation")) return;
    if (data.type === "chat.message") {
      fetchLines(el);
      if (data.author === "customer") { el.querySelector(".chat-typing").hidden = true; }
    } else if (data.type === "chat.typing" && data.side === "customer") {
      var t = el.querySelector(".chat-typing");
      t.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { t.hidden = true; }, TYPING_SHOW_MS);
    } else if (data.type === "chat.read" && data.side === "customer") {
      showCustomerRead(el, data.seq);
    } else if (data.status && data.status !== el.getAttribute("data-status")) {
      reloadPane(data.conversation);
    }
  });

  function send(form) {
    var el = pane();
    var box = form.querySelector("textarea");
    var text = box.value.trim();
    if (!el || !text) return;
    var error = el.querySelector(".chat-error");
    var clientId = "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    box.disabled = true;
    post(form.getAttribute("action"), { text: text, client_id: clientId })
      .then(function (r) {
        return r.text().then(function (html) {
          if (r.ok) {
            box.value = "";
            error.hidden = true;
            append(el, html);
          } else {
            var holder = document.createElement("div");
            holder.innerHTML = html;
            error.textContent = (holder.textContent || "").trim() || r.statusText;
            error.hidden = false;
          }
        });
      })
      .catch(function () {
        error.textContent = document.documentElement.lang.indexOf("en") === 0
          ? "Not sent: the connection was lost. Your text is kept; try again."
          : "未发送：网络连接中断。内容已保留，请重试。";
        error.hidden = false;
      })
      .finally(function () { box.disabled = false; box.focus(); });
  }

  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("chat-reply")) return;
    evt.preventDefault();
    send(form);
  });
  document.addEventListener("keydown", function (evt) {
    var box = evt.target;
    if (!(box instanceof HTMLTextAreaElement) || !box.closest(".chat-reply")) return;
    if (evt.key === "Enter" && !evt.shiftKey && !evt.isComposing && !box.getAttribute("aria-activedescendant")) {
      var popup = document.getElementById(box.getAttribute("aria-controls") || "");
      if (popup && !popup.hidden) return; // the quick-reply list takes Enter
      evt.preventDefault();
      send(box.closest("form"));
    }
  });
  document.addEventListener("input", function (evt) {
    var box = evt.target;
    var el = pane();
    if (!el || !(box instanceof HTMLTextAreaElement) || !box.closest(".chat-reply")) return;
    var now = Date.now();
    if (now - lastTypingSent > TYPING_SEND_MS) {
      lastTypingSent = now;
      post("/chat/c/" + el.getAttribute("data-conversation") + "/typing");
    }
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    var el = pane();
    if (el && evt.detail.target && evt.detail.target.id === "chat-pane") {
      var list = el.querySelector(".chat-lines");
      if (list) list.scrollTop = list.scrollHeight;
      markRead(el);
    }
  });
  document.addEventListener("visibilitychange", function () { var el = pane(); if (el) markRead(el); });
  // A reconnected stream may have missed events: catch up from the database.
  document.addEventListener("htmx:sseOpen", function () {
    document.body.dataset.liveStream = "open";
    var el = pane();
    if (el) fetchLines(el);
  });
  document.addEventListener("htmx:sseError", function () {
    if (document.body.dataset.liveStream) document.body.dataset.liveStream = "lost";
  });
  setInterval(function () { post("/chat/heartbeat"); }, HEARTBEAT_MS);
  var first = pane();
  if (first) {
    var list = first.querySelector(".chat-lines");
    if (list) list.scrollTop = list.scrollHeight;
    markRead(first);
  }
})();
