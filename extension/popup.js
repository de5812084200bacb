// The popup: the open tab's title, tags and notes; "Save" asks the background worker to save it.
"use strict";
(async function () {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  const status = document.getElementById("status");
  document.getElementById("page-title").textContent = tab ? tab.title || tab.url : "";
  const known = tab ? await chrome.runtime.sendMessage({ type: "lookup", tabId: tab.id }) : null;
  if (known && known.saved) {
    const link = document.createElement("a");
    link.href = known.linkUrl;
    link.target = "_blank";
    link.textContent = chrome.i18n.getMessage("inLibrary");
    status.append(link);
  }
  document.getElementById("save-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = chrome.i18n.getMessage("saving");
    const answer = await chrome.runtime.sendMessage({
      type: "save",
      tabId: tab.id,
      fields: {
        tags: document.getElementById("tags").value,
        notes: document.getElementById("notes").value,
      },
    });
    status.textContent = "";
    if (!answer.ok) {
      status.textContent = answer.error;
      return;
    }
    const link = document.createElement("a");
    link.href = answer.linkUrl;
    link.target = "_blank";
    link.textContent = chrome.i18n.getMessage(answer.alreadySaved ? "alreadySaved" : "saved");
    status.append(link);
  });
})();
