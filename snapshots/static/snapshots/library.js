// Library enhancements: "select all on this page", and a confirmation before a bulk delete.
// The bulk form is a plain POST form that works without this script.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) {
    return;
  }
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=link]"));
  var all = form.querySelector("[data-select-all]");
  if (all && boxes.length) {
    all.closest("label").hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) {
        box.checked = all.checked;
      });
    });
    form.addEventListener("change", function (event) {
      if (event.target.name !== "link") {
        return;
      }
      var checked = boxes.filter(function (box) { return box.checked; }).length;
      all.checked = checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    });
  }
  var bar = form.querySelector("[data-confirm-delete]");
  form.addEventListener("submit", function (event) {
    var action = form.querySelector("select[name=action]");
    if (bar && action && action.value === "delete" &&
        !window.confirm(bar.getAttribute("data-confirm-delete"))) {
      event.preventDefault();
    }
  });
})();
