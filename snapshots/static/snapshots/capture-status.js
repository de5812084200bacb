// Live capture progress on a link page: while a capture is queued or running, fetch the history
// fragment (the server renders it, translated: the state, the queue position, the page's title)
// and swap it in, until every capture has finished; the heading takes the title it carries.
// Without JavaScript the page shows the state and a "Refresh" link.
(function () {
  "use strict";
  var POLL_MS = 1500;
  var MAX_POLLS = 400; // ten minutes: longer than any capture may take (the worker gives up first)

  var current = document.getElementById("capture-history");
  var announcer = document.getElementById("capture-announcer");
  if (!current || current.getAttribute("data-finished") === "true") {
    return;
  }
  var url = current.getAttribute("data-poll-url");
  var polls = 0;
  var lastStatus = current.getAttribute("data-status-text");

  function schedule() {
    polls += 1;
    if (polls <= MAX_POLLS) {
      window.setTimeout(poll, POLL_MS);
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        var fresh = template.content.getElementById("capture-history");
        if (!fresh) {
          return schedule();
        }
        current.replaceWith(fresh);
        current = fresh;
        // The heading follows: a capture that just succeeded gives the page its own title.
        var title = fresh.getAttribute("data-page-title");
        var heading = document.getElementById("link-title");
        if (title && heading && heading.textContent !== title) {
          heading.textContent = title;
          document.title = document.title.replace(/^.*( · kb)$/, function (_all, tail) {
            return title + tail;
          });
        }
        var status = fresh.getAttribute("data-status-text");
        if (announcer && status && status !== lastStatus) {
          announcer.textContent = status;
        }
        lastStatus = status;
        if (fresh.getAttribute("data-finished") !== "true") {
          schedule();
        }
      })
      .catch(function () {
        // A network hiccup: try again a little later; the Refresh link still works.
        schedule();
      });
  }

  schedule();
})();
