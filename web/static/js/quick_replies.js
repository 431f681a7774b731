// Quick replies (快捷回复) in any <textarea data-quick-replies>: typing "/" at the start of a
// word opens a small searchable list (↑ ↓ Enter or Tab to insert, Esc to close, or the mouse).
// Inside a ticket (an element with data-ticket-id around the box) the chosen reply is
// rendered by the server for that ticket, so its variables are filled in; elsewhere (a macro's
// text) the reply is inserted as written. Wired by delegation: boxes swapped in by htmx work.
(function () {
  "use strict";
  // "/" after the start, a space or any character but a Latin letter, digit, ":", "/" or "."
  // (Chinese has no spaces between words; "http://", "a/b" and "1/2" stay plain text).
  var TRIGGER = /(^|[^A-Za-z0-9_:\/.])\/([^\s\/]{0,30})$/;
  var states = new WeakMap();
  var counter = 0;

  function lang() {
    return (document.documentElement.lang || "zh").toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  }
  var TEXT = {
    zh: { empty: "没有匹配的快捷回复", label: "快捷回复" },
    en: { empty: "No matching quick replies", label: "Quick replies" },
  };

  function stateFor(box) {
    var state = states.get(box);
    if (state) return state;
    counter += 1;
    var list = document.createElement("ul");
    list.className = "qr-popup";
    list.id = "qr-popup-" + counter;
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", TEXT[lang()].label);
    list.setAttribute("data-testid", "quick-reply-popup");
    list.hidden = true;
    var anchor = box.closest("label") || box;
    anchor.insertAdjacentElement("afterend", list);
    box.setAttribute("aria-controls", list.id);
    box.setAttribute("aria-autocomplete", "list");
    state = { list: list, items: [], active: 0, start: -1, seq: 0, timer: null };
    list.addEventListener("mousedown", function (event) {
      var option = event.target instanceof Element ? event.target.closest("[data-index]") : null;
      event.preventDefault(); // keep the focus (and the caret) in the box
      if (option) choose(box, state, Number(option.getAttribute("data-index")));
    });
    states.set(box, state);
    return state;
  }

  function close(box, state) {
    state.list.hidden = true;
    state.items = [];
    state.start = -1;
    box.removeAttribute("aria-activedescendant");
    box.setAttribute("aria-expanded", "false");
  }

  function paint(box, state) {
    var list = state.list;
    list.textContent = "";
    if (!state.items.length) {
      var none = document.createElement("li");
      none.className = "qr-empty";
      none.textContent = TEXT[lang()].empty;
      list.appendChild(none);
    }
    state.items.forEach(function (item, index) {
      var li = document.createElement("li");
      li.id = list.id + "-" + index;
      li.setAttribute("role", "option");
      li.setAttribute("data-index", String(index));
      li.setAttribute("aria-selected", index === state.active ? "true" : "false");
      li.className = "qr-item" + (index === state.active ? " qr-active" : "");
      var title = document.createElement("strong");
      title.textContent = item.title;
      li.appendChild(title);
      if (item.shortcut) {
        var code = document.createElement("span");
        code.className = "qr-shortcut mono";
        code.textContent = "/" + item.shortcut;
        li.appendChild(code);
      }
      var preview = document.createElement("span");
      preview.className = "qr-preview";
      preview.textContent = item.body.length > 70 ? item.body.slice(0, 69) + "…" : item.body;
      li.appendChild(preview);
      list.appendChild(li);
    });
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    if (state.items.length) {
      box.setAttribute("aria-activedescendant", list.id + "-" + state.active);
      var current = document.getElementById(list.id + "-" + state.active);
      if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
    }
  }

  function search(box, state, query) {
    state.seq += 1;
    var seq = state.seq;
    fetch("/replies/search?q=" + encodeURIComponent(query), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (items) {
        if (seq !== state.seq || state.start < 0) return; // a newer query, or closed
        state.items = items;
        state.active = 0;
        paint(box, state);
      })
      .catch(function () { close(box, state); });
  }

  function insert(box, state, text) {
    var start = state.start;
    var end = box.selectionStart;
    close(box, state);
    if (start < 0) return;
    box.focus();
    box.setRangeText(text, start, end, "end");
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function choose(box, state, index) {
    var item = state.items[index];
    if (!item) return;
    var holder = box.closest("[data-ticket-id]");
    var ticketId = holder ? holder.getAttribute("data-ticket-id") : null;
    if (!ticketId) {
      insert(box, state, item.body);
      return;
    }
    var url = "/replies/render?ticket_id=" + encodeURIComponent(ticketId) + "&reply_id=" + item.id;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && typeof data.text === "string") insert(box, state, data.text);
        else close(box, state);
      })
      .catch(function () { close(box, state); });
  }

  function isBox(target) {
    return target instanceof HTMLTextAreaElement && target.hasAttribute("data-quick-replies");
  }

  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!isBox(box)) return;
    var state = stateFor(box);
    var before = box.value.slice(0, box.selectionStart);
    var match = TRIGGER.exec(before);
    if (!match) {
      if (state.start >= 0) close(box, state);
      return;
    }
    state.start = box.selectionStart - match[2].length - 1;
    clearTimeout(state.timer);
    state.timer = setTimeout(function () { search(box, state, match[2]); }, 120);
  });

  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!isBox(box)) return;
    var state = states.get(box);
    if (!state || state.list.hidden) return;
    var n = state.items.length;
    if (event.key === "Escape") {
      event.preventDefault();
      close(box, state);
    } else if (event.key === "ArrowDown" && n) {
      event.preventDefault();
      state.active = (state.active + 1) % n;
      paint(box, state);
    } else if (event.key === "ArrowUp" && n) {
      event.preventDefault();
      state.active = (state.active - 1 + n) % n;
      paint(box, state);
    } else if ((event.key === "Enter" || event.key === "Tab") && n) {
      event.preventDefault();
      choose(box, state, state.active);
    }
  });

  document.addEventListener("focusout", function (event) {
    var box = event.target;
    if (!isBox(box)) return;
    var state = states.get(box);
    if (state && !state.list.hidden) close(box, state);
  });
})();
