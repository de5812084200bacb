// The options page: the address of kb and an API token (made on kb's Settings page).
"use strict";
(async function () {
  const url = document.getElementById("kb-url");
  const token = document.getElementById("token");
  const saved = await chrome.storage.local.get({ kbUrl: "", token: "" });
  url.value = saved.kbUrl;
  token.value = saved.token;
  document.getElementById("options-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await chrome.storage.local.set({ kbUrl: url.value.trim(), token: token.value.trim() });
    document.getElementById("status").textContent = chrome.i18n.getMessage("optionsSaved");
  });
})();
