// Fill every [data-i18n] element with its message in the browser's language (_locales/).
"use strict";
document.querySelectorAll("[data-i18n]").forEach((element) => {
  element.textContent = chrome.i18n.getMessage(element.getAttribute("data-i18n"));
});
