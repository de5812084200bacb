// Site-wide progressive enhancement. Every page works without it.
(function () {
  "use strict";
  // Confirm destructive buttons marked with data-confirm.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
