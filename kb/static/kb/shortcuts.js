// Keyboard shortcuts (listed in the "?" dialog, kb/templates/kb/shortcuts_help.html):
// "/" search, "n" add a link, "j"/"k" move through the list, "o"/Enter open, "?" help.
// Keys typed into a field, or with Ctrl/Alt/Meta, are left alone. Every page works without it.
(function () {
  "use strict";
  var CURRENT = "link-row--current";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll(".link-row"));
  }

  function move(step) {
    var list = rows();
    if (!list.length) {
      return;
    }
    var at = list.findIndex(function (row) { return row.classList.contains(CURRENT); });
    var next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, at + step));
    if (at >= 0) {
      list[at].classList.remove(CURRENT);
    }
    list[next].classList.add(CURRENT);
    var title = list[next].querySelector(".link-row__title a");
    if (title) {
      title.focus();
    }
  }

  function openCurrent() {
    var row = document.querySelector("." + CURRENT + " .link-row__title a");
    if (row) {
      row.click();
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) {
      return;
    }
    var help = document.getElementById("shortcuts-help");
    if (help && help.open) {
      return; // the dialog closes itself on Esc
    }
    if (typing(event.target)) {
      return;
    }
    var key = event.key;
    if (key === "/") {
      var box = document.getElementById("library-q") || document.getElementById("site-search-q");
      if (box) {
        event.preventDefault();
        box.focus();
        box.select();
      }
    } else if (key === "n") {
      var add = document.querySelector("[data-shortcut-add]");
      if (add) {
        event.preventDefault();
        window.location.href = add.href;
      }
    } else if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
    } else if (key === "o" || (key === "Enter" && event.target === document.body)) {
      if (openCurrent()) {
        event.preventDefault();
      }
    } else if (key === "?") {
      if (help && typeof help.showModal === "function") {
        event.preventDefault();
        help.showModal();
      }
    }
  });
})();
