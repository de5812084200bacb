// Distributions you can move (lossdemos/explore.py): drag a bar of p or q — or focus it and use the
// arrow keys — and every number, formula, code and chart on the page is recomputed here, the same way
// the server computes it (lossdemos/divergences.py, lossdemos/coding.py), to the same printed digits.
// The form's fields and the address follow, so Compute (or a shared link) gives the server's page.
(function () {
  "use strict";

  const root = document.getElementById("explorer");
  const form = document.getElementById("explore-form");
  if (!root || !form) return;
  const SVG = "http://www.w3.org/2000/svg";
  const SEPARATORS = /[\s,;，；]+/;
  const unit = root.dataset.unit;
  const logName = unit === "2" ? "log₂" : "ln";

  function parse(text) {
    const words = text.trim().split(SEPARATORS).filter(Boolean);
    const values = words.map(Number);
    if (values.length < 2 || values.length > 8) return null;
    if (values.some((v) => !Number.isFinite(v) || v < 0)) return null;
    return values.reduce((a, b) => a + b, 0) > 0 ? values : null;
  }

  // Logits: any finite numbers, 2 to 8 of them (lossdemos/explore.py's parse_logits).
  function parseLogits(text) {
    const words = text.trim().split(SEPARATORS).filter(Boolean);
    const values = words.map(Number);
    if (values.length < 2 || values.length > 8 || values.some((v) => !Number.isFinite(v))) return null;
    return values;
  }
  // q = softmax(z / T), as torch.softmax in float64: shift by the largest so no exp overflows.
  function temperedSoftmax(z, t) {
    const scaled = z.map((v) => v / t);
    const top = Math.max(...scaled);
    const e = scaled.map((v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  const slider = form.elements.temperature;
  const state = {
    p: parse(form.elements.p.value),
    q: parse(form.elements.q.value),
    logits: parseLogits(form.elements.logits.value),
    t: Number(slider.value),
  };
  if (!state.p || !state.q || state.p.length !== state.q.length) return;
  // The server made q from the logits; the q field only shows it rounded to 4 places.
  if (state.logits && state.logits.length === state.p.length) state.q = temperedSoftmax(state.logits, state.t);

  // --- numbers (as lossdemos/divergences.py: entr, xlogy, F.kl_div) ---
  function normalise(values) {
    const total = values.reduce((a, b) => a + b, 0);
    return values.map((v) => v / total);
  }
  function fmt(x, places = 4) {
    if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
    const text = x.toFixed(places);
    return /^-[0.]+$/.test(text) ? text.slice(1) : text;
  }
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  const entropy = (p) => sum(p.map((x) => (x > 0 ? -x * Math.log(x) : 0)));
  const cross = (p, q) => -sum(p.map((x, i) => (x === 0 ? 0 : x * Math.log(q[i]))));
  const kl = (p, q) => sum(p.map((x, i) => (x > 0 ? x * (Math.log(x) - Math.log(q[i])) : 0)));

  function divergences(p, q) {
    const m = p.map((x, i) => (x + q[i]) / 2);
    const scale = unit === "2" ? Math.LN2 : 1;
    const nats = {
      entropy_p: entropy(p),
      entropy_q: entropy(q),
      cross_entropy_pq: cross(p, q),
      cross_entropy_qp: cross(q, p),
      kl_pq: kl(p, q),
      kl_qp: kl(q, p),
      js: (kl(p, m) + kl(q, m)) / 2,
    };
    for (const key of Object.keys(nats)) nats[key] /= scale;
    return nats;
  }

  // --- Huffman, as lossdemos/coding.py: the same merges and the same tie-breaking ---
  function huffman(probabilities) {
    const n = probabilities.length;
    if (n === 1) return ["0"];
    let pool = probabilities.map((p, i) => [p, i, [i]]);
    const codes = new Array(n).fill("");
    let made = n;
    while (pool.length > 1) {
      pool.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const [left, right, ...rest] = pool;
      for (const s of left[2]) codes[s] = "0" + codes[s];
      for (const s of right[2]) codes[s] = "1" + codes[s];
      pool = [...rest, [left[0] + right[0], made, left[2].concat(right[2])]];
      made += 1;
    }
    return codes;
  }
  const ideal = (p) => p.map((x) => (x > 0 ? -Math.log2(x) : Infinity));
  const average = (w, lengths) => sum(w.map((x, i) => (x > 0 ? x * lengths[i] : 0)));

  // --- drawing ---
  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const n2 = (x) => String(Math.round(x * 100) / 100);

  function drawBars(name, values) {
    const svg = root.querySelector(`[data-dist="${name}"] svg`);
    const top = Number(svg.dataset.top), bottom = Number(svg.dataset.bottom);
    const width = svg.viewBox.baseVal.width;
    const slot = width / values.length;
    svg.querySelectorAll(".explore-slot").forEach((group, i) => {
      const v = values[i];
      const bar = group.querySelector(".explore-bar");
      bar.setAttribute("y", n2(bottom - v * (bottom - top)));
      bar.setAttribute("height", n2(v * (bottom - top)));
      const label = group.querySelector("[data-bar-value]");
      label.setAttribute("y", n2(bottom - v * (bottom - top) - 4));
      label.setAttribute("x", n2(i * slot + slot / 2));
      label.textContent = fmt(v);
      group.querySelector(".explore-hit").setAttribute("aria-valuenow", fmt(v));
    });
  }

  // lossdemos/coding.py's coding_chart
  function drawCoding(which, weights, codes, idealLengths, reference) {
    const svg = root.querySelector(`[data-coding-chart="${which}"] svg`);
    const LEFT = 34, RIGHT = 552, TOP = 12, BOTTOM = 180, MAX = 10;
    const finite = idealLengths.concat(reference || []).filter(Number.isFinite);
    let topBits = Math.max(1, ...codes.map((c) => c.length), ...finite.map((v) => Math.min(v, MAX)));
    topBits = Math.ceil(topBits);
    const scale = (BOTTOM - TOP) / topBits;
    const ticks = svg.querySelector("[data-ticks]");
    ticks.replaceChildren();
    for (let bits = 0; bits <= topBits; bits++) {
      const y = n2(BOTTOM - bits * scale);
      ticks.append(el("line", { class: "coding-grid", x1: LEFT, x2: RIGHT, y1: y, y2: y }));
      ticks.append(el("text", { class: "chart-label", x: LEFT - 4, y, "text-anchor": "end", "dominant-baseline": "middle" }, String(bits)));
    }
    const columns = svg.querySelector("[data-columns]");
    columns.replaceChildren();
    let x = LEFT;
    weights.forEach((w, i) => {
      const width = (RIGHT - LEFT) * w;
      const length = idealLengths[i];
      const clipped = !Number.isFinite(length) || length > topBits;
      const drawn = Math.min(length, topBits);
      const codeHeight = codes[i].length * scale;
      columns.append(el("rect", { class: `coding-code coding-code--${which}`, x: n2(x), y: n2(BOTTOM - codeHeight), width: n2(width), height: n2(codeHeight) }));
      columns.append(el("rect", { class: "coding-ideal" + (clipped ? " coding-ideal--clipped" : ""), x: n2(x), y: n2(BOTTOM - drawn * scale), width: n2(width), height: n2(drawn * scale) }));
      if (reference) {
        const y = n2(BOTTOM - Math.min(reference[i], topBits) * scale);
        columns.append(el("line", { class: "coding-reference", x1: n2(x), x2: n2(x + width), y1: y, y2: y }));
      }
      columns.append(el("text", { class: "chart-label", x: n2(x + width / 2), y: BOTTOM + 14, "text-anchor": "middle" }, String(i)));
      columns.append(el("text", { class: "chart-value", x: n2(x + width / 2), y: BOTTOM + 28, "text-anchor": "middle" }, codes[i]));
      x += width;
    });
  }

  // lossdemos/explore.py's summary_bars
  function drawSummary(entropyBits, crossBits, lengthP, lengthQ) {
    const ORIGIN = 150, WIDTH = 560;
    const finite = [entropyBits, crossBits, lengthP, lengthQ].filter(Number.isFinite);
    const top = finite.length ? Math.max(...finite, 1) : 1;
    const span = WIDTH - ORIGIN - 60;
    const width = (v) => (Number.isFinite(v) ? Math.min(v, top) * (span / top) : span);
    const set = (key, attrs) => {
      const node = root.querySelector(`[data-summary="${key}"], [data-summary-label="${key}"]`);
      for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, n2(value));
    };
    set("entropy", { width: width(entropyBits) });
    set("cross_base", { width: width(entropyBits) });
    set("gap", { x: ORIGIN + width(entropyBits), width: Math.max(width(crossBits) - width(entropyBits), 0) });
    root.querySelector('[data-summary-label="gap"]').setAttribute("x", n2(ORIGIN + width(entropyBits) + 4));
    set("length_p", { width: width(lengthP) });
    set("length_q", { width: width(lengthQ) });
  }

  function formulaTerms(key, p, q) {
    const klTerms = (a, b) => a.map((x, i) => (x > 0 ? `${fmt(x)}·${logName}(${fmt(x)}/${fmt(b[i])})` : "0")).join(" + ");
    if (key === "entropy_p") return "−(" + p.map((x) => (x > 0 ? `${fmt(x)}·${logName} ${fmt(x)}` : "0")).join(" + ") + ")";
    if (key === "cross_entropy_pq") return "−(" + p.map((x, i) => (x > 0 ? `${fmt(x)}·${logName} ${fmt(q[i])}` : "0")).join(" + ") + ")";
    if (key === "kl_pq") return klTerms(p, q);
    if (key === "kl_qp") return klTerms(q, p);
    return "";
  }

  function render() {
    const p = normalise(state.p), q = normalise(state.q);
    drawBars("p", p);
    drawBars("q", q);
    const numbers = divergences(p, q);
    for (const [key, value] of Object.entries(numbers)) {
      const cell = root.querySelector(`[data-number="${key}"]`);
      if (cell) cell.textContent = fmt(value);
      const formula = root.querySelector(`[data-formula="${key}"]`);
      if (formula) {
        formula.querySelector('[data-part="value"]').textContent = fmt(value);
        const terms = formula.querySelector('[data-part="terms"]');
        if (terms) terms.textContent = formulaTerms(key, p, q);
      }
    }
    const codeP = huffman(p), codeQ = huffman(q);
    const idealP = ideal(p), idealQ = ideal(q);
    const lengthP = average(p, codeP.map((c) => c.length));
    const lengthQ = average(p, codeQ.map((c) => c.length));
    const h = average(p, idealP), hpq = average(p, idealQ);
    const coding = { length_p: lengthP, length_q: lengthQ, entropy: h, cross_entropy: hpq, gap: hpq - h };
    for (const [key, value] of Object.entries(coding)) root.querySelector(`[data-coding="${key}"]`).textContent = fmt(value);
    drawCoding("p", p, codeP, idealP, null);
    drawCoding("q", p, codeQ, idealQ, idealP);
    drawSummary(h, hpq, lengthP, lengthQ);
    root.querySelectorAll("[data-symbol]").forEach((row) => {
      if (row.tagName !== "TR") return;
      const i = Number(row.dataset.symbol);
      const cells = { p: fmt(p[i]), q: fmt(q[i]), ideal_p: fmt(idealP[i], 2), ideal_q: fmt(idealQ[i], 2) };
      for (const [key, text] of Object.entries(cells)) row.querySelector(`[data-cell="${key}"]`).textContent = text;
      row.querySelector('[data-cell="code_p"] code').textContent = codeP[i];
      row.querySelector('[data-cell="code_q"] code').textContent = codeQ[i];
    });
  }

  function shareAddress() {
    const params = new URLSearchParams(new FormData(form));
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }

  // The temperature slider: q follows softmax(z / T) while T or the logits move.
  const softmaxLine = document.getElementById("explore-softmax");
  const temperatureText = document.getElementById("temperature-value");
  function fromLogits() {
    temperatureText.textContent = state.t.toFixed(2);
    if (!state.logits || state.logits.length !== state.p.length) return;
    const q = temperedSoftmax(state.logits, state.t);
    state.q = q;
    form.elements.q.value = q.map((x) => fmt(x)).join(" ");
    softmaxLine.querySelector('[data-part="softmax"]').textContent =
      `softmax([${state.logits.map(String).join(", ")}] / ${state.t.toFixed(2)}) = [${q.map((x) => fmt(x)).join(", ")}]`;
    softmaxLine.hidden = false;
    render();
    shareAddress();
  }
  // Dragging or typing q by hand lets go of the logits: q is the reader's again.
  function dropLogits() {
    if (!state.logits && !form.elements.logits.value) return;
    state.logits = null;
    form.elements.logits.value = "";
    softmaxLine.hidden = true;
  }
  slider.addEventListener("input", () => {
    state.t = Number(slider.value);
    fromLogits();
  });
  form.elements.logits.addEventListener("input", () => {
    state.logits = parseLogits(form.elements.logits.value);
    fromLogits();
  });

  // Move symbol i of p or q to probability v; the others keep their proportions and share the rest.
  // The values are kept as the 4-decimal text the form shows, so the server reads the same numbers.
  function setValue(name, i, v) {
    v = Math.min(1, Math.max(0, v));
    const probs = normalise(state[name]);
    const rest = 1 - probs[i];
    const moved = probs.map((x, j) => (j === i ? v : rest > 0 ? (x * (1 - v)) / rest : (1 - v) / (probs.length - 1)));
    const text = moved.map((x) => x.toFixed(4)).join(" ");
    const parsed = parse(text);
    if (!parsed) return;
    if (name === "q") dropLogits();
    state[name] = parsed;
    form.elements[name].value = text;
    render();
    shareAddress();
  }

  function valueAt(svg, clientY) {
    const box = svg.getBoundingClientRect();
    const y = ((clientY - box.top) * svg.viewBox.baseVal.height) / box.height;
    const top = Number(svg.dataset.top), bottom = Number(svg.dataset.bottom);
    return (bottom - y) / (bottom - top);
  }

  root.querySelectorAll("[data-dist]").forEach((figure) => {
    const name = figure.dataset.dist;
    const svg = figure.querySelector("svg");
    figure.querySelectorAll(".explore-hit").forEach((hit, i) => {
      hit.addEventListener("pointerdown", (event) => {
        event.preventDefault();
        hit.setPointerCapture(event.pointerId);
        hit.focus({ preventScroll: true }); // a page that scrolls under the finger would move the bar
        setValue(name, i, valueAt(svg, event.clientY));
      });
      hit.addEventListener("pointermove", (event) => {
        if (hit.hasPointerCapture(event.pointerId)) setValue(name, i, valueAt(svg, event.clientY));
      });
      // where the finger or button is let go counts too (a last move may arrive only with it)
      hit.addEventListener("pointerup", (event) => {
        if (hit.hasPointerCapture(event.pointerId)) setValue(name, i, valueAt(svg, event.clientY));
      });
      hit.addEventListener("keydown", (event) => {
        const steps = { ArrowUp: 0.01, ArrowRight: 0.01, ArrowDown: -0.01, ArrowLeft: -0.01, PageUp: 0.1, PageDown: -0.1 };
        const current = normalise(state[name])[i];
        let target = null;
        if (event.key in steps) target = current + steps[event.key];
        else if (event.key === "Home") target = 0;
        else if (event.key === "End") target = 1;
        if (target === null) return;
        event.preventDefault();
        setValue(name, i, target);
      });
    });
  });

  // Typed numbers update the page too, while they still describe as many symbols as the bars.
  for (const name of ["p", "q"]) {
    form.elements[name].addEventListener("input", () => {
      const parsed = parse(form.elements[name].value);
      if (!parsed || parsed.length !== state[name === "p" ? "q" : "p"].length) return;
      if (name === "q") dropLogits();
      state[name] = parsed;
      render();
      if (name === "p" && state.logits) fromLogits();
    });
  }
  form.elements.base.addEventListener("change", () => form.requestSubmit());
  root.dataset.ready = "true";
})();
