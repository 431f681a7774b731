// @mention autocomplete in a textarea marked data-mentions (its JSON list of colleagues'
// display names). Typing "@" and some letters shows the matching names below the field;
// ArrowDown/ArrowUp move, Enter or Tab inserts the chosen name, Escape closes; a click
// inserts too. Delegated on the document, so drawers loaded by htmx work without wiring.
(function () {
  "use strict";
  var MAX = 8;
  var box = null; // the open list: {field, list, names, start, active}

  function names(field) {
    try {
      var parsed = JSON.parse(field.getAttribute("data-mentions") || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (e) {
      return [];
    }
  }

  function query(field) {
    // The text between the last "@" before the caret and the caret, if it looks like a name.
    var upto = field.value.slice(0, field.selectionStart);
    var at = upto.lastIndexOf("@");
    if (at < 0) return null;
    var before = at > 0 ? upto.charAt(at - 1) : "";
    if (/[A-Za-z0-9_.-]/.test(before)) return null; // an email address
    var typed = upto.slice(at + 1);
    if (typed.length > 30 || /[\n@]/.test(typed)) return null;
    return { start: at, typed: typed };
  }

  function close() {
    if (box) {
      box.list.remove();
      box.field.removeAttribute("aria-activedescendant");
      box.field.setAttribute("aria-expanded", "false");
      box = null;
    }
  }

  function highlight(index) {
    var items = box.list.querySelectorAll("li");
    if (!items.length) return;
    box.active = (index + items.length) % items.length;
    items.forEach(function (li, i) {
      li.setAttribute("aria-selected", i === box.active ? "true" : "false");
    });
    box.field.setAttribute("aria-activedescendant", items[box.active].id);
  }

  function insert(name) {
    var field = box.field;
    var caret = field.selectionStart;
    var text = field.value;
    var before = text.slice(0, box.start) + "@" + name + " ";
    field.value = before + text.slice(caret);
    field.setSelectionRange(before.length, before.length);
    close();
    field.focus();
  }

  function open(field, found, start) {
    close();
    var list = document.createElement("ul");
    list.className = "mention-list";
    list.id = "mention-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("data-testid", "mention-list");
    found.forEach(function (name, i) {
      var li = document.createElement("li");
      li.id = "mention-option-" + i;
      li.setAttribute("role", "option");
      li.textContent = name;
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        insert(name);
      });
      list.appendChild(li);
    });
    field.insertAdjacentElement("afterend", list);
    field.setAttribute("aria-controls", list.id);
    field.setAttribute("aria-expanded", "true");
    box = { field: field, list: list, names: found, start: start, active: 0 };
    highlight(0);
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!(field instanceof HTMLTextAreaElement) || !field.hasAttribute("data-mentions")) return;
    var q = query(field);
    if (!q) return close();
    var typed = q.typed.toLowerCase();
    var found = names(field)
      .filter(function (name) {
        return name.toLowerCase().indexOf(typed) === 0 || name.toLowerCase().indexOf(" " + typed) > 0;
      })
      .slice(0, MAX);
    if (!found.length) return close();
    open(field, found, q.start);
  });

  document.addEventListener("keydown", function (event) {
    if (!box || event.target !== box.field) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      highlight(box.active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insert(box.names[box.active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });

  document.addEventListener("focusout", function (event) {
    if (box && event.target === box.field) close();
  });
})();
