/* Kefu board: drag and drop (SortableJS), the keyboard "move to…" menu, the resolution
 * dialog, the drawer and live refreshes. No build step; htmx does the requests.
 *
 * Every move — dropped or chosen from the menu — goes through the target column's form
 * (hx-post="/board/move", hx-trigger="kefu-drop"). The server validates it, persists it and
 * answers with the re-rendered columns (out of band). A refused move re-reads the two
 * columns from the server, which puts the card back where it really is.
 */
(function () {
  "use strict";

  var pending = null; // the move in flight: {id, from, to, keyboard}
  var deferred = {}; // columns whose live refresh waits until a drag or dialog ends

  function board() { return document.getElementById("board"); }
  function column(status) { return document.getElementById("column-" + status); }
  function columnForm(status) {
    var section = column(status);
    return section ? section.querySelector("form.column-form") : null;
  }
  function busy() {
    var dialog = document.getElementById("resolution-dialog");
    return document.body.classList.contains("is-dragging") || (dialog && dialog.open);
  }

  function refresh(el) { if (el) { htmx.trigger(el, "kefu-refresh"); } }

  function snapBack() {
    if (!pending) { return; }
    refresh(column(pending.from));
    refresh(column(pending.to));
    var card = document.getElementById("card-" + pending.id);
    var drawer = document.querySelector('#drawer [data-ticket-id="' + pending.id + '"]');
    if (drawer) { reloadDrawer(); }
    pending = null;
    if (card) { card.classList.remove("is-moving"); }
  }

  /* Ask for the resolution; ``done(text)`` gets null when the person cancels. */
  function askResolution(card, done) {
    var dialog = document.getElementById("resolution-dialog");
    if (!dialog) { done(null); return; }
    var form = dialog.querySelector("form");
    var text = dialog.querySelector("textarea");
    var finished = false;
    function finish(value) {
      if (finished) { return; }
      finished = true;
      if (dialog.open) { dialog.close(); }
      done(value);
    }
    dialog.querySelector("[data-ticket-number]").textContent = card.dataset.number || "";
    text.value = "";
    form.onsubmit = function (evt) {
      evt.preventDefault();
      var value = text.value.trim();
      if (!value) { text.focus(); return; }
      finish(value);
    };
    dialog.querySelector("[data-cancel]").onclick = function () { finish(null); };
    dialog.oncancel = function () { finish(null); };
    dialog.onclose = function () { finish(null); };
    dialog.showModal();
    text.focus();
  }

  function post(target, resolution) {
    var form = columnForm(target);
    if (!form || !pending) { snapBack(); return; }
    form.elements.ticket_id.value = pending.id;
    form.elements.version.value = pending.version;
    form.elements.resolution.value = resolution || "";
    htmx.trigger(form, "kefu-drop");
  }

  function move(card, target, keyboard) {
    pending = {
      id: card.dataset.id, version: card.dataset.version, from: card.dataset.status,
      to: target, keyboard: !!keyboard
    };
    card.classList.add("is-moving");
    var form = columnForm(target);
    if (form && form.hasAttribute("data-needs-resolution")) {
      askResolution(card, function (text) {
        if (text === null) { snapBack(); } else { post(target, text); }
        flushDeferred();
      });
    } else {
      post(target, "");
    }
  }

  function markTargets(card) {
    var allowed = (card.dataset.moves || "").split(" ");
    document.querySelectorAll("#board .column").forEach(function (col) {
      var status = col.dataset.status;
      if (status === card.dataset.status) { return; }
      col.classList.add(allowed.indexOf(status) >= 0 ? "drop-ok" : "drop-no");
    });
  }
  function clearTargets() {
    document.querySelectorAll("#board .column").forEach(function (col) {
      col.classList.remove("drop-ok", "drop-no");
    });
  }
  function flushDeferred() {
    if (busy()) { return; }
    Object.keys(deferred).forEach(function (status) { refresh(column(status)); });
    deferred = {};
  }

  function initSortables(root) {
    if (typeof Sortable === "undefined" || !root.querySelectorAll) { return; }
    var lists = Array.prototype.slice.call(root.querySelectorAll("#board ol.cards, ol.cards"));
    if (root.matches && root.matches("ol.cards")) { lists.push(root); }
    lists.forEach(function (list) {
      if (list.kefuSortable || !list.closest("#board")) { return; }
      list.kefuSortable = new Sortable(list, {
        group: "board",
        sort: false,
        animation: 150,
        draggable: "li.ticket[data-can-move]",
        filter: "a, button, summary, .move-options",
        preventOnFilter: false,
        ghostClass: "card-ghost",
        chosenClass: "card-chosen",
        onStart: function (evt) {
          document.body.classList.add("is-dragging");
          markTargets(evt.item);
        },
        onEnd: function (evt) {
          document.body.classList.remove("is-dragging");
          clearTargets();
          if (evt.from !== evt.to) { move(evt.item, evt.to.dataset.status, false); }
          flushDeferred();
        }
      });
    });
  }

  function reloadDrawer() {
    var article = document.querySelector("#drawer [data-ticket-id]");
    if (article) {
      htmx.ajax("GET", article.dataset.url, { target: "#drawer", swap: "innerHTML" });
    }
  }

  function closeDrawer() {
    var drawer = document.getElementById("drawer");
    if (drawer && drawer.classList.contains("drawer")) { drawer.innerHTML = ""; }
  }

  /* Board fragments carry the page's filters unless their URL names its own. */
  document.addEventListener("htmx:configRequest", function (evt) {
    var el = board();
    var path = evt.detail.path || "";
    if (!el || path.indexOf("?") >= 0 || !el.dataset.query) { return; }
    if (/^\/board\/(columns|cards|move)/.test(path)) {
      evt.detail.path = path + "?" + el.dataset.query;
    }
  });

  /* The payload of the live event that triggered a refresh, if one did. */
  function livePayload(trigger) {
    var message = trigger && trigger.detail;
    if (!message || typeof message.data !== "string") { return null; }
    try { return JSON.parse(message.data); } catch (e) { return null; }
  }

  /* Whether this page already shows what the event announces (e.g. our own move). */
  function alreadyShown(payload) {
    if (!payload || payload.version === undefined) { return false; }
    var card = document.getElementById("card-" + payload.ticket_id);
    return !!card && String(payload.version) === card.dataset.version &&
      (!payload.status || payload.status === card.dataset.status);
  }

  /* A live refresh waits while someone is dragging or completing a ticket, and is skipped
   * when the page already shows the change (the mover's own board). */
  document.addEventListener("htmx:confirm", function (evt) {
    var el = evt.detail.elt;
    if (!el.classList || evt.detail.verb !== "get") { return; }
    var isColumn = el.classList.contains("column");
    if (!isColumn && !el.classList.contains("ticket")) { return; }
    if (busy() && isColumn) {
      evt.preventDefault();
      deferred[el.dataset.status] = true;
    } else if (alreadyShown(livePayload(evt.detail.triggeringEvent))) {
      evt.preventDefault();
    }
  });

  document.addEventListener("htmx:responseError", function (evt) {
    var el = evt.detail.elt;
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (el.classList && el.classList.contains("column-form")) {
      snapBack();
    } else if (el.closest && el.closest("#drawer") && (status === 409 || status === 404)) {
      var article = document.querySelector("#drawer [data-ticket-id]");
      if (article) { refresh(document.getElementById("card-" + article.dataset.ticketId)); }
      reloadDrawer();
    }
  });
  document.addEventListener("htmx:sendError", function (evt) {
    var el = evt.detail.elt;
    if (el.classList && el.classList.contains("column-form")) { snapBack(); }
  });

  /* After a move, keyboard users land on the moved card again. */
  htmx.onLoad(function (content) {
    initSortables(content);
    if (pending && content.querySelector) {
      var card = document.getElementById("card-" + pending.id);
      if (card && card.dataset.status === pending.to) {
        if (pending.keyboard) {
          var summary = card.querySelector(".move-menu summary") || card.querySelector("a.number");
          if (summary) { summary.focus(); }
        }
        pending = null;
      }
    }
    if (content.querySelector && content.querySelector("#drawer .ticket-drawer, .ticket-drawer")) {
      var drawer = document.getElementById("drawer");
      if (drawer && drawer.classList.contains("drawer")) { drawer.focus({ preventScroll: true }); }
    }
  });

  document.addEventListener("click", function (evt) {
    var option = evt.target.closest("[data-move-to]");
    if (option) {
      var card = option.closest("li.ticket");
      var menu = option.closest("details");
      if (menu) { menu.open = false; }
      if (card) { move(card, option.dataset.moveTo, true); }
      return;
    }
    if (evt.target.closest("[data-close-drawer]") && document.querySelector("#board")) {
      evt.preventDefault();
      closeDrawer();
    }
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape" && !busy()) {
      var open = document.querySelector(".move-menu[open]");
      if (open) { open.open = false; open.querySelector("summary").focus(); return; }
      if (document.querySelector("#drawer .ticket-drawer") && board()) { closeDrawer(); }
    }
  });
})();
