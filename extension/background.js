// kb: save the open tab to a kb library through its API (Authorization: Bearer <token>).
// The popup asks this worker to save a tab; the address of kb and the token come from the
// options page (chrome.storage.local). Nothing else is sent anywhere.
"use strict";

const message = (name) => chrome.i18n.getMessage(name) || name;

async function kbSettings() {
  return chrome.storage.local.get({ kbUrl: "", token: "" });
}

function kbAddress(base, path) {
  return base.replace(/\/+$/, "") + path;
}

// Save ``tab`` (its URL and title) with optional tags ("a, b c") and notes; answers
// {ok, alreadySaved, linkUrl} or {ok: false, error}.
async function saveTab(tab, fields = {}) {
  const { kbUrl, token } = await kbSettings();
  if (!kbUrl || !token) {
    return { ok: false, error: message("notConfigured") };
  }
  if (!/^https?:/.test(tab.url || "")) {
    return { ok: false, error: message("notAWebPage") };
  }
  const body = { url: tab.url, title: tab.title || "", tags: fields.tags || "", notes: fields.notes || "" };
  let response;
  try {
    response = await fetch(kbAddress(kbUrl, "/api/links"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, error: message("unreachable") };
  }
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    // not JSON: said below by the status
  }
  if (response.status === 200 || response.status === 201) {
    return {
      ok: true,
      alreadySaved: response.status === 200,
      linkUrl: kbAddress(kbUrl, "/links/" + data.id + "/"),
    };
  }
  if (response.status === 401) {
    return { ok: false, error: message("badToken") };
  }
  return { ok: false, error: data.error || "HTTP " + response.status };
}

// Whether ``tab`` is already in the library: {saved: true, linkUrl, created} or {saved: false}.
async function lookUpTab(tab) {
  const { kbUrl, token } = await kbSettings();
  if (!kbUrl || !token || !/^https?:/.test(tab.url || "")) {
    return { saved: false };
  }
  try {
    const response = await fetch(
      kbAddress(kbUrl, "/api/links/saved?url=" + encodeURIComponent(tab.url)),
      { headers: { Authorization: "Bearer " + token } }
    );
    if (response.status !== 200) {
      return { saved: false };
    }
    const link = await response.json();
    return { saved: true, linkUrl: kbAddress(kbUrl, "/links/" + link.id + "/"), created: link.created };
  } catch (error) {
    return { saved: false };
  }
}

chrome.runtime.onMessage.addListener((request, _sender, reply) => {
  if (request && request.type === "lookup") {
    chrome.tabs
      .get(request.tabId)
      .then(lookUpTab)
      .then(reply, () => reply({ saved: false }));
    return true;
  }
  if (request && request.type === "save") {
    chrome.tabs
      .get(request.tabId)
      .then((tab) => saveTab(tab, request.fields))
      .then(reply, (error) => reply({ ok: false, error: String(error) }));
    return true; // the answer comes later
  }
  return false;
});
