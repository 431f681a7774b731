/* Kefu board, the day's tools: phone state tabs, keyboard shortcuts, bulk selection and
 * saving the current filters as a view. Works alongside board.js (moves, drawer, live
 * refreshes); every change still goes through the server's endpoints.
 */
(function () {
  "use strict";

  var STATES = ["pending", "in_progress", "awaiting_confirmation", "completed", "closed"];
  var phone = window.matchMedia("(max-width: 640px)");
  var selected = {}; // ticket id -> true
  var lastCard = null; // the card j/k last focused (by id)

  function board() { return document.getElementById("board"); }
  function cardOf(node) { return node && node.closest ? node.closest("#board li.ticket") : null; }

  /* --- phone state tabs ---------------------------------------------------------------- */

  function tabFromHash() {
    var match = /(?:^#|&)state=([a-z_]+)/.exec(location.hash || "");
    return match && STATES.indexOf(match[1]) >= 0 ? match[1] : null;
  }

  var currentTab = tabFromHash() || "pending";

  function syncTabs() {
    var el = board();
    if (!el) { return; }
    el.dataset.tab = currentTab;
    document.querySelectorAll("#state-tabs [data-tab]").forEach(function (tab) {
      var on = tab.dataset.tab === currentTab;
      tab.classList.toggle("active", on);
      tab.setAttribute("aria-selected", on ? "true" : "false");
      var count = document.querySelector("#column-" + tab.dataset.tab + " h2 .count");
      var shown = tab.querySelector("[data-tab-count]");
      if (count && shown) { shown.textContent = count.textContent; }
    });
  }

  function showTab(state) {
    if (STATES.indexOf(state) < 0) { return; }
    currentTab = state;
    if (tabFromHash() !== state) {
      history.replaceState(history.state, "", location.pathname + location.search + "#state=" + state);
    }
    syncTabs();
  }

  window.addEventListener("hashchange", function () { showTab(tabFromHash() || currentTab); });
  document.addEventListener("click", function (evt) {
    var tab = evt.target.closest ? evt.target.closest("#state-tabs [data-tab]") : null;
    if (tab) { evt.preventDefault(); showTab(tab.dataset.tab); }
  });

  /* --- selection and bulk actions -------------------------------------------------------- */

  function selecting() { var el = board(); return !!el && el.classList.contains("selecting"); }

  function syncSelection() {
    var ids = Object.keys(selected);
    var bar = document.getElementById("bulk-bar");
    var el = board();
    if (el) {
      el.querySelectorAll("[data-select-card]").forEach(function (box) {
        box.checked = !!selected[box.value];
        var card = cardOf(box);
        if (card) { card.classList.toggle("selected", box.checked); }
      });
    }
    if (bar) {
      bar.hidden = !selecting();
      bar.querySelector("[data-bulk-ids]").value = ids.join(",");
      bar.querySelector("[data-bulk-count]").textContent = String(ids.length);
    }
    var toggle = document.querySelector("[data-select-mode]");
    if (toggle) { toggle.setAttribute("aria-pressed", selecting() ? "true" : "false"); }
  }

  function setSelecting(on) {
    var el = board();
    if (!el) { return; }
    el.classList.toggle("selecting", on);
    document.body.classList.toggle("board-selecting", on);
    if (!on) { selected = {}; }
    syncSelection();
  }

  function toggleCard(card) {
    if (!card) { return; }
    if (!selecting()) { setSelecting(true); }
    if (selected[card.dataset.id]) { delete selected[card.dataset.id]; } else { selected[card.dataset.id] = true; }
    syncSelection();
  }

  function syncBulkFields() {
    var bar = document.getElementById("bulk-bar");
    if (!bar) { return; }
    var action = bar.elements.action.value;
    bar.querySelectorAll("[data-bulk-for]").forEach(function (field) {
      field.hidden = field.dataset.bulkFor !== action;
      field.disabled = field.hidden;
    });
  }

  document.addEventListener("change", function (evt) {
    var box = evt.target.closest ? evt.target.closest("[data-select-card]") : null;
    if (box) {
      if (box.checked) { selected[box.value] = true; } else { delete selected[box.value]; }
      syncSelection();
      return;
    }
    if (evt.target.closest && evt.target.closest("#bulk-bar") && evt.target.name === "action") {
      syncBulkFields();
    }
  });

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest) { return; }
    if (evt.target.closest("[data-select-mode]")) { setSelecting(!selecting()); return; }
    if (evt.target.closest("[data-select-clear]")) { selected = {}; syncSelection(); return; }
    if (evt.target.closest("[data-bulk-dismiss]")) {
      var result = document.getElementById("bulk-result");
      if (result) { result.innerHTML = ""; }
      return;
    }
    if (evt.target.closest("[data-shortcuts-help]")) { openHelp(); }
  });

  /* After a bulk action: every column re-reads itself; the selection starts over. */
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "bulk-result") {
      document.querySelectorAll("#board .column").forEach(function (col) {
        htmx.trigger(col, "kefu-refresh");
      });
      selected = {};
      syncSelection();
    }
  });

  /* A saved view keeps the filters the board shows now (they change without a reload). */
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (form.classList && form.classList.contains("save-view-form")) {
      var el = board();
      form.querySelector("[data-view-query]").value = el ? (el.dataset.query || "") : "";
    }
  }, true);

  /* --- keyboard shortcuts --------------------------------------------------------------- */

  function visibleCards() {
    return Array.prototype.slice.call(document.querySelectorAll("#board li.ticket")).filter(
      function (card) { return card.offsetParent !== null; }
    );
  }

  function focusCard(card) {
    if (!card) { return; }
    card.setAttribute("tabindex", "-1");
    card.focus();
    card.scrollIntoView({ block: "nearest" });
    lastCard = card.dataset.id;
  }

  function currentCard() {
    var card = cardOf(document.activeElement);
    if (card) { return card; }
    return lastCard ? document.getElementById("card-" + lastCard) : null;
  }

  function step(delta) {
    var cards = visibleCards();
    if (!cards.length) { return; }
    var card = currentCard();
    var index = card ? cards.indexOf(card) : -1;
    var next = index < 0 ? (delta > 0 ? 0 : cards.length - 1)
      : Math.min(cards.length - 1, Math.max(0, index + delta));
    focusCard(cards[next]);
  }

  var focusReply = false;

  function openCard(card, reply) {
    var link = card && card.querySelector("a.number");
    if (!link) { return; }
    focusReply = !!reply;
    link.click();
  }

  function assignToMe(card) {
    var el = board();
    var me = el ? el.dataset.me : "";
    if (!card || !me) { return; }
    // The answer refreshes the card (out of band); the drawer only if it shows this ticket.
    var shown = document.querySelector('#drawer [data-ticket-id="' + card.dataset.id + '"]');
    htmx.ajax("POST", "/tickets/" + card.dataset.id + "/assign", {
      source: card, target: "#drawer", swap: shown ? "innerHTML" : "none",
      values: { assignee_id: me, version: card.dataset.version }
    });
  }

  function openMoveMenu(card) {
    var menu = card && card.querySelector("details.move-menu");
    if (!menu) { return; }
    menu.open = true;
    var first = menu.querySelector("[data-move-to]");
    if (first) { first.focus(); }
  }

  function openHelp() {
    var dialog = document.getElementById("shortcuts-help");
    if (dialog && !dialog.open) { dialog.showModal(); }
  }

  function typing(target) {
    if (!target || !target.closest) { return false; }
    return !!target.closest("input, textarea, select, [contenteditable], [contenteditable=''], dialog[open]");
  }

  document.addEventListener("keydown", function (evt) {
    if (!board() || evt.ctrlKey || evt.metaKey || evt.altKey || evt.defaultPrevented) { return; }
    if (typing(evt.target)) { return; }
    if (document.querySelector("dialog[open]")) { return; }
    var key = evt.key;
    if (key === "?") { evt.preventDefault(); openHelp(); return; }
    if (key === "j" || key === "k") { evt.preventDefault(); step(key === "j" ? 1 : -1); return; }
    var card = currentCard();
    if (!card) { return; }
    if (key === "Enter") {
      if (document.activeElement !== card) { return; } // a focused link or button acts itself
      evt.preventDefault();
      openCard(card, false);
    } else if (key === "a") {
      evt.preventDefault();
      assignToMe(card);
    } else if (key === "r") {
      evt.preventDefault();
      openCard(card, true);
    } else if (key === "m") {
      evt.preventDefault();
      openMoveMenu(card);
    } else if (key === "x") {
      evt.preventDefault();
      toggleCard(card);
    }
  });

  /* --- after every swap: tabs, selection, the reply field --------------------------------- */

  htmx.onLoad(function () {
    syncTabs();
    syncSelection();
    if (focusReply) {
      var reply = document.querySelector("#drawer textarea[name=discussed]");
      if (reply) {
        focusReply = false;
        window.setTimeout(function () { reply.focus(); }, 0);
      }
    }
    if (lastCard && document.activeElement === document.body) {
      var card = document.getElementById("card-" + lastCard);
      if (card && !document.querySelector("#drawer .ticket-drawer")) { focusCard(card); }
    }
  });

  phone.addEventListener("change", syncTabs);
  syncBulkFields();
  syncTabs();
})();
