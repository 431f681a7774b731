/* The chat inside the widget's iframe (Kefu's origin). The browser keeps a random visitor
 * secret; every call sends it as X-Kefu-Visitor. The transcript is numbered: after a reload
 * or a lost connection the frame asks for what came after the last number it has, so nothing
 * is lost or shown twice. A message not yet confirmed stays in an outbox (with its client id)
 * and is sent again on reconnect; the server stores it once. */
(function () {
  "use strict";
  var body = document.body;
  var KEY = body.getAttribute("data-widget");
  var LOCALE = body.getAttribute("data-locale");
  var T = JSON.parse(body.getAttribute("data-i18n") || "{}");
  var API = "/api/chat/" + encodeURIComponent(KEY);
  var POLL_MS = 15000;
  var store = (function () {
    try { localStorage.setItem("kefu-test", "1"); localStorage.removeItem("kefu-test"); return localStorage; }
    catch (e) { var mem = {}; return { getItem: function (k) { return mem[k] || null; }, setItem: function (k, v) { mem[k] = String(v); }, removeItem: function (k) { delete mem[k]; } }; }
  })();
  var SECRET_KEY = "kefu-visitor-" + KEY;
  var OUTBOX_KEY = "kefu-outbox-" + KEY;

  function randomId(n) {
    var bytes = new Uint8Array(n);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (x) { return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[x % 64]; }).join("");
  }
  // The signed-in customer the site vouched for (the loader puts it in the fragment, which
  // never reaches a server log). When the person changes — another customer signs in, or the
  // one signed in signs out — this browser starts afresh, so no one sees another's chats;
  // an anonymous visitor who signs in keeps the chat they had.
  var IDENTITY_KEY = "kefu-identity-" + KEY;
  var identity = (/[#&]identity=([A-Za-z0-9_-]{1,2048})/.exec(location.hash) || [])[1] || "";
  var knownIdentity = store.getItem(IDENTITY_KEY);
  var secret = store.getItem(SECRET_KEY);
  if (knownIdentity !== null && knownIdentity !== identity) { secret = null; store.removeItem(OUTBOX_KEY); }
  if (identity) { store.setItem(IDENTITY_KEY, identity); } else { store.removeItem(IDENTITY_KEY); }
  if (!secret || !/^[A-Za-z0-9_-]{20,64}$/.test(secret)) { secret = randomId(32); store.setItem(SECRET_KEY, secret); }

  var $ = function (sel) { return document.querySelector(sel); };
  var lines = $(".kc-lines"), status = $(".kc-status"), typing = $(".kc-typing");
  var compose = $(".kc-compose"), leave = $(".kc-leave"), survey = $(".kc-survey");
  var input = compose.querySelector("textarea"), fileInput = compose.querySelector("input[type=file]");
  var endButton = $(".kc-end"), newButton = $(".kc-new"), suggestBox = $(".kc-suggest");
  var state = { conversation: null, status: null, lastSeq: 0, agentRead: 0, open: false, source: null, typingTimer: null, visible: false, unread: 0 };

  function fmt(text, params) { return String(text || "").replace(/%\((\w+)\)s/g, function (_, k) { return params && params[k] != null ? params[k] : ""; }); }
  function tell(message) { window.parent.postMessage(message, "*"); }
  function call(method, path, data, isForm) {
    var headers = { "x-kefu-visitor": secret, "accept": "application/json" };
    if (identity) headers["x-kefu-identity"] = identity;
    var init = { method: method, headers: headers, credentials: "omit" };
    if (data !== undefined) {
      if (isForm) { init.body = data; } else { headers["content-type"] = "application/json"; init.body = JSON.stringify(data); }
    }
    return fetch(API + path, init).then(function (r) {
      if (r.status === 204) return { ok: true, status: 204, data: {} };
      return r.json().catch(function () { return {}; }).then(function (d) { return { ok: r.ok, status: r.status, data: d }; });
    });
  }
  function showError(form, message) {
    var el = form.querySelector(".kc-error");
    el.textContent = message || T.error;
    el.hidden = !message;
  }
  function errorText(res) {
    var d = res.data || {};
    var fields = d.fields ? Object.keys(d.fields).map(function (k) { return d.fields[k]; }).join(" ") : "";
    return (d.error || T.error) + (fields && fields !== d.error ? " " + fields : "");
  }
  function time(iso, withDate) {
    var d = new Date(iso);
    var day = withDate ? (d.getMonth() + 1) + "/" + d.getDate() + " " : "";
    return day + ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function systemText(line) {
    var kind = (line.text || "").split(":")[0];
    if (kind === "joined") return fmt(T.joined, { name: line.agent || T.agent });
    if (kind === "transferred") return fmt(T.transferred, { name: line.agent || T.agent });
    if (kind === "requeued") return T.requeued;
    if (kind === "ended") return T.ended;
    return "";
  }
  function render(line, history) {
    var li = document.createElement("li");
    li.className = "kc-line kc-" + line.author + (history ? " kc-history" : "");
    if (!history) li.setAttribute("data-seq", String(line.seq));
    if (line.author === "system") {
      li.textContent = systemText(line) + " · " + time(line.at, history);
      return li;
    }
    var bubble = document.createElement("div");
    bubble.className = "kc-bubble";
    if (line.text) { var p = document.createElement("p"); p.textContent = line.text; bubble.appendChild(p); }
    if (line.attachment && history) {
      // An earlier conversation's file is not served through this one: its name only.
      var name = document.createElement("span"); name.textContent = "📎 " + (line.attachment.name || ""); bubble.appendChild(name);
    } else if (line.attachment && state.conversation) {
      var url = API + "/c/" + state.conversation + "/files/" + line.attachment.id;
      var a = document.createElement("a");
      a.href = url; a.target = "_blank"; a.rel = "noopener";
      if (line.attachment.image && !history) { var img = document.createElement("img"); img.src = url; img.alt = line.attachment.name || ""; a.appendChild(img); }
      else { a.textContent = "📎 " + (line.attachment.name || ""); }
      bubble.appendChild(a);
    }
    li.appendChild(bubble);
    var meta = document.createElement("span");
    meta.className = "kc-meta";
    meta.textContent = (line.author === "agent" ? (line.agent || T.agent) + " · " : "") + time(line.at, history);
    if (line.author === "customer" && !history) {
      var mark = document.createElement("span");
      mark.className = "kc-read";
      mark.textContent = " ✓ " + T.read;
      meta.appendChild(mark);
    }
    li.appendChild(meta);
    return li;
  }
  function add(line) {
    if (lines.querySelector('[data-seq="' + line.seq + '"]')) return;
    if (line.client_id) { var pending = lines.querySelector('[data-client="' + line.client_id + '"]'); if (pending) pending.remove(); }
    lines.appendChild(render(line));
    state.lastSeq = Math.max(state.lastSeq, line.seq);
    if (line.author === "agent") {
      typing.hidden = true;
      if (!state.visible || document.visibilityState !== "visible") { state.unread += 1; tell({ kefu: "unread", count: state.unread }); }
    }
  }
  function markRead() {
    lines.querySelectorAll(".kc-customer[data-seq]").forEach(function (li) {
      if (parseInt(li.getAttribute("data-seq"), 10) <= state.agentRead) li.classList.add("is-read");
    });
  }
  function scroll() { lines.scrollTop = lines.scrollHeight; }
  // Another conversation (a new chat after one ended): the lines shown so far stay as
  // history, and the new one's lines, numbered from 1 again, are not mistaken for them.
  function switchTo(id) {
    if (!id || id === state.conversation) return;
    lines.querySelectorAll("[data-seq]").forEach(function (li) { li.removeAttribute("data-seq"); li.classList.add("kc-history"); });
    state.conversation = id; state.lastSeq = 0; state.agentRead = 0; state.readSent = 0;
    connect();
  }

  function applyView(view, fresh) {
    state.open = view.open;
    if (view.identity === "verified") {
      // The site said who this is: no "who are you" fields, here or on the message form.
      $(".kc-who").hidden = true;
      leave.querySelectorAll(".kc-contact").forEach(function (el) { el.hidden = true; });
      leave.elements.name.required = false;
    }
    if (view.identity === "invalid" && fresh && window.console) console.warn("Kefu chat: the site's data-user-hash does not match; chatting anonymously.");
    if (fresh) {
      lines.textContent = "";
      if (view.history && view.history.length) {
        var head = document.createElement("li");
        head.className = "kc-line kc-system kc-history";
        head.textContent = T.earlier;
        lines.appendChild(head);
        view.history.forEach(function (l) { lines.appendChild(render(l, true)); });
      }
    }
    switchTo(view.conversation);
    (view.lines || []).forEach(add);
    state.status = view.status;
    state.agentRead = Math.max(state.agentRead, view.agent_read_seq || 0);
    markRead();
    var ongoing = view.status === "queued" || view.status === "active";
    if (view.status === "queued" && view.queue_position) {
      status.textContent = fmt(T.queue, { n: view.queue_position }) + " " + (view.wait_minutes ? fmt(T.wait, { m: view.wait_minutes }) : T.no_estimate);
      status.hidden = false;
    } else { status.hidden = true; }
    compose.hidden = !(ongoing || view.open);
    endButton.hidden = !ongoing;
    leave.hidden = ongoing || view.open || view.survey;
    survey.hidden = !view.survey;
    newButton.hidden = !(view.status === "ended" && !view.survey && view.open);
    if (!ongoing) closeStream();
    scroll();
    flushOutbox();
    readUpTo();
  }
  function refresh(fresh) {
    return call("GET", "/state?after=" + (fresh ? 0 : state.lastSeq)).then(function (res) {
      if (res.ok) applyView(res.data, fresh);
    }).catch(function () {});
  }
  function readUpTo() {
    if (!state.conversation || !state.visible || document.visibilityState !== "visible") return;
    state.unread = 0; tell({ kefu: "unread", count: 0 });
    var seq = state.lastSeq;
    if (seq > (state.readSent || 0)) { state.readSent = seq; call("POST", "/c/" + state.conversation + "/read", { seq: seq }).catch(function () {}); }
  }

  // --- live stream -------------------------------------------------------------------------
  function closeStream() { if (state.source) { state.source.close(); state.source = null; } }
  function connect() {
    closeStream();
    if (!state.conversation || !window.EventSource) return;
    var source = new EventSource(API + "/c/" + state.conversation + "/events");
    state.source = source;
    source.addEventListener("ready", function () { body.setAttribute("data-live", "open"); refresh(false); });
    source.addEventListener("error", function () { body.setAttribute("data-live", "lost"); });
    source.addEventListener("message", function () { refresh(false); });
    ["offered", "queued", "read"].forEach(function (name) {
      source.addEventListener(name, function (e) {
        var d = {}; try { d = JSON.parse(e.data); } catch (x) {}
        if (name === "read" && d.side === "agent") { state.agentRead = Math.max(state.agentRead, d.seq || 0); markRead(); return; }
        refresh(false);
      });
    });
    source.addEventListener("typing", function (e) {
      var d = {}; try { d = JSON.parse(e.data); } catch (x) {}
      if (d.side !== "agent") return;
      typing.textContent = T.typing;
      typing.hidden = false;
      clearTimeout(state.typingTimer);
      state.typingTimer = setTimeout(function () { typing.hidden = true; }, 5000);
    });
  }
  setInterval(function () { if (state.conversation && (state.status === "queued" || state.status === "active")) refresh(false); }, POLL_MS);
  window.addEventListener("online", function () { refresh(false); });

  // --- sending, with an outbox that survives reloads ------------------------------------------
  function outbox() { try { return JSON.parse(store.getItem(OUTBOX_KEY) || "[]"); } catch (e) { return []; } }
  function saveOutbox(items) { store.setItem(OUTBOX_KEY, JSON.stringify(items)); }
  function pendingBubble(item) {
    var li = lines.querySelector('[data-client="' + item.client_id + '"]');
    if (!li) {
      li = document.createElement("li");
      li.className = "kc-line kc-customer kc-pending";
      li.setAttribute("data-client", item.client_id);
      var bubble = document.createElement("div"); bubble.className = "kc-bubble";
      var p = document.createElement("p"); p.textContent = item.text; bubble.appendChild(p);
      var meta = document.createElement("span"); meta.className = "kc-meta"; meta.textContent = T.sending;
      li.appendChild(bubble); li.appendChild(meta);
      li.addEventListener("click", function () { if (li.classList.contains("kc-failed")) flushOutbox(); });
      lines.appendChild(li); scroll();
    }
    return li;
  }
  var flushing = false;
  function flushOutbox() {
    var items = outbox();
    if (flushing || !items.length) return;
    flushing = true;
    var item = items[0];
    var li = pendingBubble(item);
    li.classList.remove("kc-failed");
    li.querySelector(".kc-meta").textContent = T.sending;
    var payload = { text: item.text, client_id: item.client_id, conversation: state.conversation || "", locale: LOCALE,
      name: item.name || "", phone: item.phone || "", email: item.email || "" };
    call("POST", "/messages", payload).then(function (res) {
      flushing = false;
      if (res.ok) {
        saveOutbox(outbox().filter(function (x) { return x.client_id !== item.client_id; }));
        li.remove();
        var line = res.data.line; line.client_id = item.client_id;
        switchTo(res.data.conversation);
        add(line); scroll();
        refresh(false);
        flushOutbox();
        return;
      }
      if (res.status === 409 || res.status === 422 || res.status === 413 || res.status === 404) {
        // Refused for good (offline, too long…): drop it from the outbox, put the text back.
        saveOutbox(outbox().filter(function (x) { return x.client_id !== item.client_id; }));
        li.remove();
        if (!input.value) input.value = item.text;
        showError(compose, errorText(res));
        refresh(false);
        return;
      }
      li.classList.add("kc-failed");
      li.querySelector(".kc-meta").textContent = res.status === 429 ? errorText(res) : T.failed;
      // A busy server (503) or a failure on its side: try again by itself in a moment.
      if (res.status >= 500) setTimeout(flushOutbox, 2000);
    }).catch(function () {
      flushing = false;
      li.classList.add("kc-failed");
      li.querySelector(".kc-meta").textContent = T.failed;
    });
  }
  function who() {
    var f = compose;
    return { name: f.elements.name.value.trim(), phone: f.elements.phone.value.trim(), email: f.elements.email.value.trim() };
  }
  compose.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    showError(compose, "");
    var w = who();
    var items = outbox();
    items.push({ text: text, client_id: "v" + randomId(16), name: w.name, phone: w.phone, email: w.email });
    saveOutbox(items);
    input.value = "";
    suggestBox.hidden = true;
    flushOutbox();
  });
  input.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && !evt.shiftKey && !evt.isComposing) { evt.preventDefault(); compose.requestSubmit(); }
  });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    var form = new FormData();
    form.append("files", file, file.name);
    form.append("client_id", "f" + randomId(16));
    form.append("conversation", state.conversation || "");
    form.append("locale", LOCALE);
    var w = who();
    form.append("name", w.name); form.append("phone", w.phone); form.append("email", w.email);
    showError(compose, "");
    call("POST", "/messages", form, true).then(function (res) {
      fileInput.value = "";
      if (!res.ok) { showError(compose, errorText(res)); return; }
      switchTo(res.data.conversation);
      add(res.data.line); scroll(); refresh(false);
    }).catch(function () { fileInput.value = ""; showError(compose, T.failed); });
  });

  // --- typing, suggestions -------------------------------------------------------------------
  var lastTyping = 0, suggestTimer = null, lastQuery = "";
  input.addEventListener("input", function () {
    var now = Date.now();
    if (state.conversation && state.status === "active" && now - lastTyping > 2500) {
      lastTyping = now;
      call("POST", "/c/" + state.conversation + "/typing").catch(function () {});
    }
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, 400);
  });
  function suggest() {
    var q = input.value.trim();
    if (state.status === "active" || q.length < 2 || q === lastQuery) { if (q.length < 2) suggestBox.hidden = true; return; }
    lastQuery = q;
    call("GET", "/suggest?q=" + encodeURIComponent(q)).then(function (res) {
      var list = suggestBox.querySelector("ul");
      list.textContent = "";
      var found = (res.data && res.data.suggestions) || [];
      found.forEach(function (s) {
        var li = document.createElement("li");
        var a = document.createElement("button");
        a.type = "button"; a.className = "link"; a.textContent = s.title;
        a.setAttribute("data-testid", "chat-widget-suggestion");
        a.addEventListener("click", function () { openArticle(s.id, q); });
        var snip = document.createElement("p"); snip.className = "kc-snippet"; snip.textContent = s.snippet;
        li.appendChild(a); li.appendChild(snip); list.appendChild(li);
      });
      suggestBox.hidden = !found.length;
      suggestBox.querySelector(".kc-article").hidden = true;
      list.hidden = false;
    }).catch(function () {});
  }
  function openArticle(id, q) {
    call("GET", "/articles/" + id).then(function (res) {
      if (!res.ok) return;
      var art = suggestBox.querySelector(".kc-article");
      art.querySelector("h3").textContent = res.data.title;
      // Kefu renders articles to safe HTML on the server (the portal shows the same).
      art.querySelector(".kc-article-body").innerHTML = res.data.body;
      art.hidden = false;
      suggestBox.querySelector("ul").hidden = true;
      art.querySelector(".kc-solved").onclick = function () {
        call("POST", "/solved", { article_id: id, query: q }).then(function () {
          suggestBox.hidden = true; input.value = "";
          status.textContent = T.solved_thanks; status.hidden = false;
          refresh(false);
        });
      };
    });
  }
  suggestBox.querySelector(".kc-back").addEventListener("click", function () {
    suggestBox.querySelector(".kc-article").hidden = true;
    suggestBox.querySelector("ul").hidden = false;
  });

  // --- ending, the survey, leaving a message ---------------------------------------------------
  endButton.addEventListener("click", function () {
    if (!state.conversation) return;
    call("POST", "/c/" + state.conversation + "/end").then(function () { refresh(false); });
  });
  newButton.addEventListener("click", function () { newButton.hidden = true; compose.hidden = false; input.focus(); });
  survey.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var f = survey.elements;
    var data = { speed: f.speed.value, solution: f.solution.value, attitude: f.attitude.value, comment: f.comment.value };
    call("POST", "/c/" + state.conversation + "/survey", data).then(function (res) {
      if (!res.ok) { showError(survey, errorText(res)); return; }
      survey.hidden = true;
      status.textContent = T.thanks; status.hidden = false;
      newButton.hidden = !state.open;
    });
  });
  leave.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var f = leave.elements;
    var data = { name: f.name.value, phone: f.phone.value, email: f.email.value, text: f.text.value, locale: LOCALE };
    call("POST", "/leave", data).then(function (res) {
      if (!res.ok) { showError(leave, errorText(res)); return; }
      leave.hidden = true;
      status.textContent = fmt(T.sent_left, { number: res.data.number }); status.hidden = false;
      status.setAttribute("data-testid", "chat-widget-left");
    }).catch(function () { showError(leave, T.failed); });
  });

  $(".kc-close").addEventListener("click", function () { tell({ kefu: "close" }); });
  window.addEventListener("message", function (evt) {
    if (evt.source !== window.parent || !evt.data) return;
    if (evt.data.kefu === "open") { state.visible = true; readUpTo(); input.focus(); }
    if (evt.data.kefu === "closed") state.visible = false;
  });
  // Opened on its own (not inside a site's page): it is visible.
  if (window.parent === window) state.visible = true;
  document.addEventListener("visibilitychange", readUpTo);
  tell({ kefu: "color", value: body.getAttribute("data-color") });
  document.documentElement.style.setProperty("--kc-brand", body.getAttribute("data-color"));
  refresh(true);
})();
