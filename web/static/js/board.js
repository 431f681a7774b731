/* Kefu board: drag and drop (SortableJS), the keyboard "move to…" menu, the resolution
 * dialog, the drawer and live refreshes. No build step; htmx does the requests.
 *
 * Every move — dropped or chosen from the menu — goes through the target column's form
 * (hx-post="/board/move", hx-trigger="kefu-drop"). The card is placed in the target column at
 * once; the server validates the move, persists it and answers with the card in its new
 * state and the two columns' counts (out of band). A refused move re-reads the two columns
 * from the server, which puts the card back where it really is.
 */
(function () {
  "use strict";

  var pending = null; // the move in flight: {id, from, to, keyboard}
  var deferred = {}; // columns whose live refresh waits until a drag or dialog ends
  var moves = 0; // moves started on this page: a read asked for before the latest is stale
  var again = {}; // ids of columns and cards to read again once their replacement has loaded

  function board() { return document.getElementById("board"); }
  function column(status) { return document.getElementById("column-" + status); }
  function columnForm(status) {
    var section = column(status);
    return section ? section.querySelector("form.column-form") : null;
  }
  /* A card pressed (chosen by Sortable, the drag not yet begun), being dragged, or waiting
   * for its resolution: a column swapped in now would replace the card under the pointer. */
  function busy() {
    var dialog = document.getElementById("resolution-dialog");
    return !!document.querySelector("#board .card-chosen") ||
      document.body.classList.contains("is-dragging") || (dialog && dialog.open);
  }

  function refresh(el) { if (el) { htmx.trigger(el, "kefu-refresh"); } }

  function snapBack() {
    if (!pending) { return; }
    var moving = pending;
    pending = null; // first: the refreshes below must not wait for the move that failed
    var card = document.getElementById("card-" + moving.id);
    var home = document.querySelector("#column-" + moving.from + " ol.cards");
    if (card && home && card.parentNode !== home) { home.appendChild(card); } // until re-read
    refresh(column(moving.from));
    refresh(column(moving.to));
    var drawer = document.querySelector('#drawer [data-ticket-id="' + moving.id + '"]');
    if (drawer) { reloadDrawer(); }
    if (card) { card.classList.remove("is-moving"); }
    flushDeferred();
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
    form.dataset.movingFrom = pending.from;
    form.elements.resolution.value = resolution || "";
    htmx.trigger(form, "kefu-drop");
  }

  function move(card, target, keyboard) {
    moves += 1;
    pending = {
      id: card.dataset.id, version: card.dataset.version, from: card.dataset.status,
      to: target, keyboard: !!keyboard
    };
    card.classList.add("is-moving");
    if (keyboard && mayDrop(card, target)) { placeOnTop(card, target); } // as a drop would
    var form = columnForm(target);
    // A drop the rules refuse goes straight to the server (which says why), without first
    // asking for a resolution it would not use.
    if (form && form.hasAttribute("data-needs-resolution") && mayDrop(card, target)) {
      askResolution(card, function (text) {
        if (text === null) { snapBack(); } else { post(target, text); }
        flushDeferred();
      });
    } else {
      post(target, "");
    }
  }

  /* --- dragging ------------------------------------------------------------------------
   * The column a card is dropped on is the column under the pointer at the drop — over any
   * card (one's own or a colleague's), a gap, the header or the empty space below the cards —
   * not wherever Sortable last put its placeholder. Every drop on another column is posted;
   * the server decides, and a refusal comes back as a toast. While dragging, the columns the
   * state machine refuses are marked (with the server's reason, from #drop-refusals). */
  var drag = null; // {card, from, over}

  function movesOf(card) { return (card.dataset.moves || "").split(" ").filter(Boolean); }
  function mayDrop(card, status) { return movesOf(card).indexOf(status) >= 0; }

  function refusalReason(from, to) {
    var item = document.querySelector(
      '#drop-refusals li[data-from="' + from + '"][data-to="' + to + '"]');
    var el = board();
    return item ? item.textContent : (el ? el.dataset.msgRefused : "");
  }

  function columnAt(node) {
    var el = node && node.nodeType === 1 ? node : node && node.parentElement;
    return el && el.closest ? el.closest("#board section.column") : null;
  }

  function markTargets(card) {
    document.querySelectorAll("#board .column").forEach(function (col) {
      var status = col.dataset.status;
      if (status === card.dataset.status) { return; }
      if (mayDrop(card, status)) {
        col.classList.add("drop-ok");
        return;
      }
      var reason = refusalReason(card.dataset.status, status);
      col.classList.add("drop-no");
      col.setAttribute("aria-disabled", "true");
      col.dataset.dropReason = reason;
      var note = document.createElement("p");
      note.className = "drop-reason";
      note.setAttribute("data-testid", "drop-reason-" + status);
      note.textContent = reason;
      var title = col.querySelector("h2");
      if (title) { title.insertAdjacentElement("afterend", note); } else { col.prepend(note); }
    });
  }
  function clearTargets() {
    document.querySelectorAll("#board .column").forEach(function (col) {
      col.classList.remove("drop-ok", "drop-no", "drop-over");
      col.removeAttribute("aria-disabled");
      delete col.dataset.dropReason;
    });
    document.querySelectorAll("#board .drop-reason").forEach(function (note) { note.remove(); });
  }

  function hover(col) {
    var status = col ? col.dataset.status : null;
    if (!drag || drag.over === status) { return; }
    document.querySelectorAll("#board .column.drop-over").forEach(function (c) {
      c.classList.remove("drop-over");
    });
    if (col && status !== drag.from) { col.classList.add("drop-over"); }
    drag.over = status;
  }

  /* Where the pointer is: every drag event and pointer move on the way, and the drop itself
   * (window, capture phase: before any handler can stop it). */
  function track(x, y) {
    if (drag && (x || y)) { drag.x = x; drag.y = y; }
  }
  ["dragover", "drop", "dragend", "pointermove"].forEach(function (type) {
    window.addEventListener(type, function (evt) { track(evt.clientX, evt.clientY); }, true);
  });
  window.addEventListener("touchmove", function (evt) {
    var touch = evt.touches && evt.touches[0];
    if (touch) { track(touch.clientX, touch.clientY); followPointer(); }
  }, { capture: true, passive: true });
  window.addEventListener("pointermove", function () { followPointer(); });

  /* The column under the pointer now (null outside the board). */
  function pointedColumn() {
    return drag && drag.x !== undefined ? columnAt(document.elementFromPoint(drag.x, drag.y)) : null;
  }
  function followPointer() { if (drag) { hover(pointedColumn()); } }

  /* Native drag and drop: mark the column under the pointer and give it the cursor it
   * deserves. Bubble phase on window, after Sortable's handlers: the last word on dropEffect. */
  window.addEventListener("dragover", function (evt) {
    if (!drag) { return; }
    var col = columnAt(evt.target);
    hover(col);
    if (!col || col.dataset.status === drag.from) { return; }
    if (mayDrop(drag.card, col.dataset.status)) {
      evt.preventDefault();
      if (evt.dataTransfer) { evt.dataTransfer.dropEffect = "move"; }
    } else if (evt.dataTransfer) {
      evt.dataTransfer.dropEffect = "none";
    }
  });

  function placeOnTop(card, status) {
    var list = document.querySelector("#column-" + status + " ol.cards");
    if (list && card.parentNode !== list) { list.insertBefore(card, list.firstChild); }
  }

  /* After a move the server sent only the card and the counts, so the columns' next pages
   * must be asked for as the columns now stand: the source column has one card fewer before
   * its next page, and the target column's next pages leave out the card shown on top of
   * them (``pinned``, as the server does for a column re-read after a drop). */
  function afterMove(form) {
    var id = form.elements.ticket_id.value;
    var from = form.dataset.movingFrom;
    var to = form.dataset.status;
    var fromMore = document.querySelector("#column-" + from + " ol.cards > li.more");
    if (fromMore) { fromMore.dataset.shift = String((Number(fromMore.dataset.shift) || 0) - 1); }
    var toMore = document.querySelector("#column-" + to + " ol.cards > li.more");
    if (toMore && document.getElementById("card-" + id)) { toMore.dataset.pinned = id; }
    [from, to].forEach(function (status) {
      var section = column(status);
      var empty = section && section.querySelector(".column-empty");
      if (empty) { empty.hidden = !!section.querySelector("ol.cards > li.ticket"); }
    });
  }
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!isMoveForm(evt.detail.elt)) { return; }
    if (evt.detail.successful) {
      afterMove(evt.detail.elt);
      pending = null; // also when the card left the filtered board
    }
    flushDeferred(); // the live refreshes that waited for this move
  });

  /* Put Sortable's placeholder where the card should sit until the server answers: in the
   * target list for a move the rules allow, else back in its own place. */
  function place(evt, target) {
    var card = evt.item;
    var list = target && mayDrop(card, target) ? document.querySelector(
      '#column-' + target + ' ol.cards') : null;
    if (list) {
      if (card.parentNode !== list) { list.insertBefore(card, list.querySelector(":scope > li.more")); }
      return;
    }
    if (card.parentNode !== evt.from) {
      evt.from.insertBefore(card, evt.from.children[evt.oldIndex] || null);
    }
  }

  function flushDeferred() {
    if (busy() || pending) { return; }
    var waiting = deferred;
    deferred = {};
    Object.keys(waiting).forEach(function (key) {
      refresh(key.indexOf("card-") === 0 ? document.getElementById(key) : column(key));
    });
  }

  function initSortables(root) {
    if (typeof Sortable === "undefined" || !root.querySelectorAll) { return; }
    var lists = Array.prototype.slice.call(root.querySelectorAll("#board ol.cards, ol.cards"));
    if (root.matches && root.matches("ol.cards")) { lists.push(root); }
    lists.forEach(function (list) {
      if (list.kefuSortable || !list.closest("#board")) { return; }
      list.kefuSortable = new Sortable(list, {
        // Sortable shows its placeholder only in columns the card may go to.
        group: {
          name: "board",
          pull: true,
          put: function (to, from, dragEl) { return mayDrop(dragEl, to.el.dataset.status); }
        },
        sort: false,
        animation: 150,
        dragoverBubble: true, // the window's dragover listener below must see every dragover
        // Every card is an item, so a card can be placed next to any card (a colleague's
        // too); only one's own can be picked up.
        draggable: "li.ticket",
        // On a phone the "move to…" menu replaces dragging (one column shows at a time).
        disabled: window.matchMedia("(max-width: 640px)").matches,
        filter: "a, button, summary, input, .move-options, li.ticket:not([data-can-move])",
        preventOnFilter: false,
        ghostClass: "card-ghost",
        chosenClass: "card-chosen",
        // A press without a drag: the reads that waited for it (the card is no longer
        // chosen here; after a drag, onEnd flushes).
        onUnchoose: function () { flushDeferred(); },
        onStart: function (evt) {
          document.body.classList.add("is-dragging");
          drag = { card: evt.item, from: evt.item.dataset.status, over: evt.item.dataset.status };
          markTargets(evt.item);
        },
        onEnd: function (evt) {
          var col = pointedColumn();
          var target = col ? col.dataset.status : null;
          drag = null;
          document.body.classList.remove("is-dragging");
          clearTargets();
          var from = evt.item.dataset.status;
          if (target && target !== from) {
            place(evt, target);
            move(evt.item, target, false);
          } else {
            place(evt, null); // dropped on its own column or outside the board
          }
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
    var more = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest("li.more");
    if (more && (more.dataset.shift || more.dataset.pinned)) {
      var url = new URL(evt.detail.path, window.location.origin);
      var offset = Number(url.searchParams.get("offset")) || 0;
      url.searchParams.set("offset", String(Math.max(0, offset + (Number(more.dataset.shift) || 0))));
      if (more.dataset.pinned) { url.searchParams.set("pinned", more.dataset.pinned); }
      evt.detail.path = url.pathname + url.search;
    }
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

  /* The live stream: events sent while it was away (a web process restarted, the network
   * dropped) are not replayed, so when it opens again every column is re-read. */
  document.addEventListener("htmx:sseOpen", function () {
    var reconnected = document.body.dataset.liveStream !== undefined;
    document.body.dataset.liveStream = "open";
    if (reconnected) {
      document.querySelectorAll("#board section.column").forEach(function (col) { refresh(col); });
    }
  });
  document.addEventListener("htmx:sseError", function () {
    if (document.body.dataset.liveStream) { document.body.dataset.liveStream = "lost"; }
  });

  /* A live refresh is skipped when the page already shows the change (the mover's own
   * board), and a column's waits while someone is dragging or completing a ticket, or while
   * a move is on its way: read before the move is saved, the column would show the card
   * there again, and the move's answer (the card alone) would not take it away. */
  document.addEventListener("htmx:confirm", function (evt) {
    var el = evt.detail.elt;
    if (!el.classList || evt.detail.verb !== "get") { return; }
    var isColumn = el.classList.contains("column");
    if (!isColumn && !el.classList.contains("ticket")) { return; }
    if (alreadyShown(livePayload(evt.detail.triggeringEvent))) {
      evt.preventDefault();
    } else if (isColumn && (busy() || pending)) {
      evt.preventDefault();
      deferred[el.dataset.status] = true;
    } else if (el.kefuInFlight) {
      // htmx would queue this read on the element, and its answer to the read in flight
      // replaces the element (outerHTML): the queued read would never be sent, and a change
      // announced while the first read was on its way would not be shown. Ask again, on the
      // element then in the page, once the read in flight has been answered.
      evt.preventDefault();
      el.kefuAgain = true;
    }
  });

  /* A column or card read that was asked for before the latest move started (a live
   * refresh, the re-read after a refused move) answers with the board as it was: swapped in
   * after the card moved, it would show the card in its old column as well. It is dropped and
   * asked for again once no move is on its way. */
  function refreshable(el) {
    return el && el.classList && (el.classList.contains("column") || el.classList.contains("ticket")) &&
      el.getAttribute("hx-get");
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var el = evt.detail.elt;
    if (refreshable(el) && evt.detail.requestConfig && evt.detail.requestConfig.verb === "get") {
      el.kefuReadAfter = moves;
      el.kefuInFlight = true;
    }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    // An element its own answer replaced is out of the page: htmx tells an ancestor instead.
    var config = evt.detail.requestConfig;
    var el = (config && config.elt) || evt.detail.elt;
    if (!refreshable(el) || !el.kefuInFlight) { return; }
    el.kefuInFlight = false;
    if (!el.kefuAgain) { return; }
    el.kefuAgain = false;
    if (document.body.contains(el)) { readAgain(el); return; }
    // Replaced by its answer: the new element takes htmx's triggers once htmx has processed
    // it (at once, or when the swap settles).
    var now = document.getElementById(el.id);
    if (now && now.kefuLoaded) { readAgain(now); } else { again[el.id] = true; }
  });
  function readAgain(el) {
    deferred[el.classList.contains("column") ? el.dataset.status : el.id] = true;
    flushDeferred();
  }
  htmx.onLoad(function (content) {
    if (!content.id) { return; }
    content.kefuLoaded = true;
    if (again[content.id]) {
      delete again[content.id];
      readAgain(content);
    }
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var el = evt.detail.elt;
    if (!refreshable(el) || el.kefuReadAfter === undefined) { return; }
    var stale = el.kefuReadAfter !== moves;
    delete el.kefuReadAfter;
    if (!stale && !busy() && !pending) { return; }
    evt.detail.shouldSwap = false;
    deferred[el.classList.contains("column") ? el.dataset.status : el.id] = true;
    flushDeferred();
  });

  /* --- toasts: a failed move explains itself, then goes away by itself -------------------
   * The server's refusals (409, 403, 422, its own 500) arrive as the flash partial in #flash;
   * anything else (a proxy's 5xx, no connection) gets a localized message from #board. A
   * toast stays while the pointer or focus is on it, and its × dismisses it at once. */
  function armToast(el) {
    if (!el || el.kefuToast) { return; }
    var root = board();
    var seconds = Number(root && root.dataset.toastSeconds) || 6;
    var timer = null;
    var held = 0;
    function start() { stop(); timer = window.setTimeout(function () { el.remove(); }, seconds * 1000); }
    function stop() { if (timer) { window.clearTimeout(timer); timer = null; } }
    function hold() { held += 1; stop(); }
    function release() { held = Math.max(0, held - 1); if (!held) { start(); } }
    el.kefuToast = true;
    el.classList.add("toast");
    el.addEventListener("mouseenter", hold);
    el.addEventListener("mouseleave", release);
    el.addEventListener("focusin", hold);
    el.addEventListener("focusout", release);
    start();
  }

  function armToasts() {
    document.querySelectorAll("#flash .flash").forEach(armToast);
  }

  function toast(message) {
    var area = document.getElementById("flash");
    if (!area) { return; }
    var root = board();
    var box = document.createElement("div");
    box.className = "flash flash-error";
    box.setAttribute("role", "alert");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "flash-close link";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", (root && root.dataset.msgDismiss) || "×");
    close.textContent = "×";
    box.appendChild(text);
    box.appendChild(close);
    area.replaceChildren(box);
    armToast(box);
  }

  function failedMessage(status) {
    var root = board();
    if (!root) { return ""; }
    if (!status) { return root.dataset.msgNetwork; }
    return (root.dataset.msgFailed || "").replace("%(status)s", String(status));
  }

  function isMoveForm(el) { return !!(el && el.classList && el.classList.contains("column-form")); }

  document.addEventListener("htmx:responseError", function (evt) {
    var el = evt.detail.elt;
    var xhr = evt.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (isMoveForm(el)) {
      // The server's own refusal was swapped into #flash already; anything else is ours to say.
      if (xhr && xhr.getResponseHeader("HX-Retarget") === "#flash") { armToasts(); } else { toast(failedMessage(status)); }
      snapBack();
    } else if (el.closest && el.closest("#drawer") && (status === 409 || status === 404)) {
      var article = document.querySelector("#drawer [data-ticket-id]");
      if (article) { refresh(document.getElementById("card-" + article.dataset.ticketId)); }
      reloadDrawer();
    }
  });
  document.addEventListener("htmx:sendError", function (evt) {
    if (isMoveForm(evt.detail.elt)) {
      toast(failedMessage(0));
      snapBack();
    }
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
