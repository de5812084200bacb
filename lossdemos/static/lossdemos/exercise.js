// The exercise at the end of a concept page is checked without leaving the page: the form's GET
// (the same address a reader without JavaScript loads) is fetched and its #exercise section swapped
// in. The answer is checked on the server only, so the page never holds it before it is asked for.
(function () {
  "use strict";

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest(".exercise__form");
    if (!form) return;
    event.preventDefault();
    const url = new URL(form.action, location.href);
    url.search = new URLSearchParams(new FormData(form)).toString();
    url.hash = "";
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("exercise");
      const current = document.getElementById("exercise");
      if (!response.ok || !fresh || !current) throw new Error("no exercise in the answer");
      current.replaceWith(fresh);
      history.replaceState(null, "", `${url.pathname}${url.search}#exercise`);
      const answer = fresh.querySelector("input[name=answer]");
      if (answer) answer.focus({ preventScroll: true });
    } catch (error) {
      form.submit(); // the page's own way: a reload that shows the same verdict
    }
  });
})();
