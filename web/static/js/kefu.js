// Small behaviours every page shares, wired by data attributes (the CSP allows no inline
// event handlers): dismiss a flash message, select a one-time value, go back, print the page,
// copy a link the server just handed over (data-copy-now) to the clipboard, keep a live
// filter form's URL to the filters actually set (data-live-filters), put the cursor in the
// first field a form came back with an error in.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var dismiss = target.closest("[data-dismiss]");
    if (dismiss && dismiss.parentElement) {
      dismiss.parentElement.remove();
      return;
    }
    var select = target.closest("[data-select-on-click]");
    if (select && typeof select.select === "function") {
      select.select();
      return;
    }
    if (target.closest("[data-back]") && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
      return;
    }
    if (target.closest("[data-print]")) {
      window.print();
    }
  });
  function copyNow(root) {
    var field = root.querySelector ? root.querySelector("[data-copy-now]") : null;
    if (!field) return;
    var done = function () {
      var note = field.parentElement && field.parentElement.querySelector("[data-copied]");
      if (note) note.hidden = false;
    };
    field.select();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        if (document.execCommand("copy")) done();
      });
    } else if (document.execCommand("copy")) {
      done();
    }
  }
  // A filter bar that applies on change asks (and puts in the address bar) only the filters
  // that are set, so the link a person shares reads like the one the server builds.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-live-filters")) return;
    var params = event.detail.parameters;
    Array.prototype.slice.call(form.elements).forEach(function (field) {
      if (field.name && params[field.name] === "") {
        delete params[field.name];
      }
    });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    copyNow(event.target);
  });
  // A form sent back with errors (a 4xx swapped in, or a page rendered with them): the first
  // field in error takes the focus, in the middle of the screen. Without it the page kept the
  // scroll of the submit button: the error summary sat under the sticky header (off screen on
  // a phone) and the next key typed went nowhere.
  function focusFirstInvalid() {
    var field = document.querySelector('[aria-invalid="true"]');
    if (!field || typeof field.focus !== "function" || field === document.activeElement) return;
    field.focus({ preventScroll: true });
    field.scrollIntoView({ block: "center" });
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status >= 400) focusFirstInvalid();
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstInvalid);
  } else {
    focusFirstInvalid();
  }
})();
