// Loss demos: recompute as the reader types, without a reload, and copy code snippets.
// Progressive enhancement only: every form is a plain GET form that works without this file.
(function () {
  "use strict";
  var DELAY_MS = 250;
  // Servers cap the request line (gunicorn: 4094 bytes); longer calculations go as a POST instead.
  var LONGEST_QUERY = 3000;

  function fieldParams(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string") params.append(key, value); // file inputs are for the POST form
    });
    return params;
  }

  // The fragment carries located errors as <p data-error-field="logits">; show each beside its field.
  function placeErrors(form, results) {
    form.querySelectorAll("[data-live-error]").forEach(function (slot) {
      slot.textContent = "";
      slot.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (input) {
      input.removeAttribute("aria-invalid");
    });
    results.querySelectorAll("[data-error-field]").forEach(function (error) {
      var name = error.getAttribute("data-error-field");
      var prefix = form.getAttribute("data-post-prefix");
      if (prefix && name.indexOf(prefix) === 0) name = name.slice(prefix.length);
      var slot = form.querySelector('[data-live-error="' + name + '"]');
      var input = form.querySelector('[name="' + name + '"]');
      if (slot) {
        slot.textContent = error.textContent;
        slot.hidden = false;
      }
      if (input) input.setAttribute("aria-invalid", "true");
    });
  }

  function liven(form) {
    var results = document.getElementById(form.getAttribute("data-live"));
    if (!results) return;
    var fragment = form.getAttribute("data-fragment") || "results";
    var keepUrl = form.hasAttribute("data-keep-url");
    var timer = null;
    var controller = null;

    function update() {
      var params = fieldParams(form);
      var shared = params.toString();
      params.set("fragment", fragment);
      if (controller) controller.abort();
      controller = new AbortController();
      results.setAttribute("aria-busy", "true");
      var action = (form.getAttribute("action") || window.location.pathname).split("#")[0];
      var prefix = form.getAttribute("data-post-prefix");
      var token = document.querySelector("input[name=csrfmiddlewaretoken]");
      var tooLong = shared.length > LONGEST_QUERY && prefix && token;
      var request;
      if (tooLong) {
        var body = new FormData();
        fieldParams(form).forEach(function (value, key) { body.append(prefix + key, value); });
        request = fetch(action + "?fragment=" + encodeURIComponent(fragment), {
          method: "POST", body: body, credentials: "same-origin", signal: controller.signal,
          headers: { "X-CSRFToken": token.value, "X-Requested-With": "fetch" }
        });
      } else {
        request = fetch(action + "?" + params.toString(), {
          credentials: "same-origin", signal: controller.signal, headers: { "X-Requested-With": "fetch" }
        });
      }
      request
        .then(function (response) {
          // 503 is the server's own "busy, try again" in the results fragment: show it
          if (response.status >= 500 && response.status !== 503) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (html) {
          results.innerHTML = html;
          results.removeAttribute("aria-busy");
          placeErrors(form, results);
          results.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
            button.hidden = false;
          });
          // The address keeps the calculation, so copying it shares what the reader sees.
          if (!keepUrl && !tooLong) window.history.replaceState(window.history.state, "", "?" + shared + window.location.hash);
        })
        .catch(function (error) {
          if (error.name === "AbortError") return;
          results.removeAttribute("aria-busy");
          var failure = document.createElement("p");
          failure.className = "demo-failure";
          failure.setAttribute("role", "alert");
          failure.textContent = form.getAttribute("data-failure") || "Could not update.";
          results.prepend(failure);
        });
    }

    form.addEventListener("input", function (event) {
      if (event.target.type === "file") return;
      window.clearTimeout(timer);
      timer = window.setTimeout(update, DELAY_MS);
    });
    placeErrors(form, results);
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || label;
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    var selectAndCopy = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      try { document.execCommand("copy"); } catch (e) { /* the text stays selected to copy by hand */ }
      done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, selectAndCopy);
    } else {
      selectAndCopy();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) copy(button);
  });

  function start() {
    document.querySelectorAll("form[data-live]").forEach(liven);
    document.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
