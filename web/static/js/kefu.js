// Small behaviours every page shares, wired by data attributes (the CSP allows no inline
// event handlers): dismiss a flash message, select a one-time value, go back, print the page.
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
})();
