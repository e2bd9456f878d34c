// Page 1: the similarity calculator, two texts -> cosine, its band and the formula; the classic pairs preloaded.

import { post } from "../api.js";
import { busy, el, errorBox, field, fmt, section, table } from "../ui.js";
import { bandOf } from "./bands.js";

const HEAD = 4;

function vectorHead(vector) {
  return `[${vector.slice(0, HEAD).map((v) => fmt(v, 3)).join(", ")}, …]`;
}

function formula(a, b, score) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return el("div", { class: "formula", id: "sim-formula" },
    el("div", { text: `a = ${vectorHead(a)}  (${a.length} values)` }),
    el("div", { text: `b = ${vectorHead(b)}` }),
    el("div", { text: `cos(a, b) = a·b / (‖a‖ ‖b‖) = Σ aᵢbᵢ / (√Σ aᵢ² · √Σ bᵢ²)` }),
    el("div", { text: `          = ${fmt(dot)} / (${fmt(Math.sqrt(na))} × ${fmt(Math.sqrt(nb))}) = ${fmt(score)}` }));
}

export async function render(root, info) {
  const a = el("textarea", { rows: 2 });
  const b = el("textarea", { rows: 2 });
  const button = el("button", { type: "submit", id: "sim-compare", text: "Compare" });
  const error = errorBox();
  const result = el("div", { id: "sim-result", "aria-live": "polite" });
  const compare = () => busy(button, error, async () => {
    const pair = [a.value.trim(), b.value.trim()];
    const [similarity, embeddings] = await Promise.all([
      post("/v1/similarity", { pairs: [pair] }),
      post("/v1/embeddings", { input: pair }),
    ]);
    const score = similarity.data[0].score;
    const band = bandOf(score, info.bands);
    result.replaceChildren(
      el("div", { class: "big", id: "sim-score", text: fmt(score) }),
      el("p", {}, "band: ", el("span", { class: "band", id: "sim-band", "data-band": band, text: band })),
      formula(embeddings.data[0].embedding, embeddings.data[1].embedding, score));
  });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); compare(); } },
    el("div", { class: "grid" }, field("sim-a", "Text A", a), field("sim-b", "Text B", b)), button, error);

  const classicError = errorBox();
  const classic = el("div", { id: "sim-classic", class: "scroll" }, el("p", { class: "note", text: "Scoring the classic pairs…" }));
  root.append(
    el("h2", { text: "Similarity calculator" }),
    el("p", { class: "lead", text: "Two texts become two vectors; their cosine says how close the model thinks they are. " +
      "Bands are the thresholds embedlab uses for all-MiniLM-L6-v2 (other models spread cosines differently)." }),
    section("Compare two texts", form, result),
    section("The classic pairs, scored live", classicError, classic));

  const load = (pair) => () => { a.value = pair.a; b.value = pair.b; compare(); a.focus(); };
  a.value = info.classic_pairs[0].a;
  b.value = info.classic_pairs[0].b;
  await Promise.all([compare(), busy(el("button"), classicError, async () => {
    const scored = await post("/v1/similarity", { pairs: info.classic_pairs.map((p) => [p.a, p.b]) });
    classic.replaceChildren(table(["Pair", "Text A", "Text B", "Cosine", "Band", ""],
      info.classic_pairs.map((p, i) => {
        const score = scored.data[i].score;
        const band = bandOf(score, info.bands);
        return [p.label, p.a, p.b, el("span", { class: "cos", text: fmt(score) }),
          el("span", { class: "band", "data-band": band, text: band }),
          el("button", { type: "button", class: "secondary", onclick: load(p), "aria-label": `Load ${p.label}`, text: "Load" })];
      }), { id: "sim-classic-table" }));
  })]);
}
