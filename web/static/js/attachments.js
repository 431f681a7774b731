// File pickers: drag-and-drop onto the drop zone, a list of the chosen files, and an upload
// progress bar. htmx sends the multipart form with XMLHttpRequest and re-fires the request's
// upload progress as "htmx:xhr:progress" on the form; without JavaScript the form still posts.
(function () {
  "use strict";

  function sizeLabel(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function showChosen(input) {
    var picker = input.closest("[data-file-picker]");
    var list = picker && picker.querySelector("[data-file-list]");
    if (!list) return;
    list.textContent = "";
    Array.prototype.forEach.call(input.files || [], function (file) {
      var item = document.createElement("li");
      item.textContent = file.name + " · " + sizeLabel(file.size);
      list.appendChild(item);
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.matches && input.matches("[data-file-input]")) showChosen(input);
  });

  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("[data-file-drop]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("is-dragging");
  });

  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("[data-file-drop]");
    if (zone) zone.classList.remove("is-dragging");
  });

  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("[data-file-drop]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("is-dragging");
    var input = zone.querySelector("[data-file-input]");
    if (!input || !event.dataTransfer || typeof DataTransfer === "undefined") return;
    // Add the dropped files to those already chosen.
    var merged = new DataTransfer();
    Array.prototype.forEach.call(input.files || [], function (f) { merged.items.add(f); });
    Array.prototype.forEach.call(event.dataTransfer.files, function (f) { merged.items.add(f); });
    input.files = merged.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });

  function progressOf(form) {
    return form && form.querySelector && form.querySelector("[data-file-progress]");
  }

  function hasFiles(form) {
    var input = form.querySelector && form.querySelector("[data-file-input]");
    return !!(input && input.files && input.files.length);
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var bar = progressOf(event.target);
    if (bar && hasFiles(event.target)) {
      bar.value = 0;
      bar.hidden = false;
    }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = progressOf(event.target);
    var detail = event.detail || {};
    if (bar && detail.lengthComputable && detail.total) {
      bar.value = Math.round((detail.loaded / detail.total) * 100);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = progressOf(event.target);
    if (bar) bar.hidden = true;
  });
})();
