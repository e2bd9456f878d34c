// Page 8: late interaction (a ColBERT model's query-token x document-token grid, each row's MaxSim cell marked) and
// learned sparse vectors (a SPLADE model's weighted terms, the expansion terms the text never contained marked).

import { post } from "../api.js";
import { busy, el, errorBox, field, fmt, section } from "../ui.js";

// White at 0, red towards +1, blue towards -1: a cosine's sign and size at a glance (the number is in the cell too).
function shade(value) {
  const t = Math.max(-1, Math.min(1, value));
  const fade = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${fade},${fade})` : `rgb(${fade},${fade},255)`;
}

function grid(result) {
  const header = el("tr", {}, el("th", { scope: "col", text: "query \\ document" }),
    result.document_tokens.map((token, c) => el("th", { scope: "col", "data-col": c, text: token })),
    el("th", { scope: "col", class: "num", text: "MaxSim" }));
  const rows = result.grid.map((row, r) => el("tr", { "data-row": r }, el("th", { scope: "row", text: result.query_tokens[r] }),
    row.map((value, c) => el("td", {
      class: c === result.best[r] ? "cell best" : "cell", "data-col": c, style: `background:${shade(value)}`,
      title: `${result.query_tokens[r]} · ${result.document_tokens[c]}: ${fmt(value)}`, text: fmt(value, 2),
    })),
    el("td", { class: "num row-max", text: fmt(row[result.best[r]]) })));
  return el("div", { class: "scroll" }, el("table", { id: "late-grid", class: "token-grid" }, el("thead", {}, header),
    el("tbody", {}, rows)));
}

function lateSection(info) {
  if (!info.multi_vector) {
    return section("Late interaction (ColBERT)", el("p", { class: "note", id: "late-no-model",
      text: "No multi-vector model is loaded. Start the server with --playground-multi-vector DIR (a ColBERT " +
        "directory), or serve one with --model, to see its token grid here." }));
  }
  const query = el("input", { type: "text", value: "who plays the guitar" });
  const document_ = el("textarea", { rows: 3 });
  document_.value = "A man plays the guitar on the stage, and the crowd sings along.";
  const button = el("button", { type: "submit", id: "late-run", text: "Score" });
  const error = errorBox();
  const out = el("div", { id: "late-result", "aria-live": "polite" });
  const run = () => busy(button, error, async () => {
    const result = await post("/playground/late_interaction", { query: query.value.trim(), document: document_.value.trim() });
    out.replaceChildren(
      el("p", {}, "MaxSim score ", el("span", { class: "big", id: "late-score", text: fmt(result.score) })),
      el("p", { class: "note", id: "late-formula", text: `the sum of ${result.query_tokens.length} row maxima ` +
        `(outlined): ${result.best.map((c, r) => fmt(result.grid[r][c], 2)).join(" + ")}` }),
      grid(result));
  });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); run(); } },
    field("late-query", "Query", query), field("late-document", "Document", document_), button, error);
  return { node: section(`Late interaction: ${info.multi_vector}`,
    el("p", { class: "note", text: "One vector per token. Each query token (a row; mask tokens pad the query) keeps " +
      "its best cosine among the document's tokens (outlined); the document's score is the sum of those maxima." }),
    form, out), run };
}

function termList(result) {
  const top = Math.max(...result.terms.map((t) => t.weight), 1e-9);
  return el("ol", { class: "terms", id: "sparse-terms" }, result.terms.map((t) =>
    el("li", { class: t.expansion ? "expansion" : "own" },
      el("span", { class: "term", text: t.term }),
      el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${(100 * t.weight) / top}%` })),
      el("span", { class: "score", text: fmt(t.weight) }),
      t.expansion ? el("span", { class: "tag", text: "expansion" }) : null)));
}

function sparseSection(info) {
  if (!info.sparse) {
    return section("Learned sparse (SPLADE)", el("p", { class: "note", id: "sparse-no-model",
      text: "No sparse model is loaded. Start the server with --playground-sparse DIR (a SPLADE directory), or " +
        "serve one with --model, to see its weighted terms here." }));
  }
  const text = el("textarea", { rows: 3 });
  text.value = "A man plays the guitar on the stage.";
  const asDocument = el("input", { type: "radio", name: "sparse-side", id: "sparse-document", value: "document", checked: true });
  const asQuery = el("input", { type: "radio", name: "sparse-side", id: "sparse-query", value: "query" });
  const topK = el("input", { type: "number", min: 1, max: 200, value: 40 });
  const button = el("button", { type: "submit", id: "sparse-run", text: "Show terms" });
  const error = errorBox();
  const out = el("div", { id: "sparse-result", "aria-live": "polite" });
  const run = () => busy(button, error, async () => {
    const side = asQuery.checked ? "query" : "document";
    const result = await post("/playground/sparse_terms", { text: text.value.trim(), side, top_k: Number(topK.value) });
    const expansions = result.terms.filter((t) => t.expansion).length;
    out.replaceChildren(
      el("p", { id: "sparse-summary", text: `${result.nonzero} non-zero terms; the ${result.terms.length} heaviest ` +
        `shown, ${expansions} of them expansions (not in the text)` }),
      termList(result));
  });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); run(); } },
    field("sparse-text", "Text", text),
    el("fieldset", {}, el("legend", { text: "Encode as" }),
      el("label", {}, asDocument, " document"), el("label", {}, asQuery, " query")),
    field("sparse-topk", "Terms shown", topK), button, error);
  return { node: section(`Learned sparse: ${info.sparse}`,
    el("p", { class: "note", text: "A weight per vocabulary term, most of them zero. Terms marked expansion are not " +
      "among the text's own tokens: the model added them, which is how a sparse model matches synonyms." }),
    form, out), run };
}

export async function render(root, info) {
  const parts = [lateSection(info), sparseSection(info)];
  root.append(
    el("h2", { text: "Late interaction & sparse" }),
    el("p", { class: "lead", text: "Two retrieval representations beside one dense vector per text: ColBERT keeps a " +
      "vector per token and scores by MaxSim; SPLADE writes a text as weighted vocabulary terms." }),
    ...parts.map((part) => (part instanceof Node ? part : part.node)));
  await Promise.all(parts.filter((part) => !(part instanceof Node)).map((part) => part.run()));
}
