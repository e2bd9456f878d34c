// Page 5: a query and documents encoded alike (symmetric) and with query / document prefixes, rankings side by side.

import { post } from "../api.js";
import { busy, el, errorBox, field, fmt, lines, section } from "../ui.js";

const DOCUMENTS = [
  "Paris is the capital and largest city of France.",
  "What is the capital of France?",
  "France is a country in Western Europe with a long history.",
  "The Eiffel Tower is a wrought-iron tower in Paris.",
  "Berlin is the capital of Germany.",
];

function rankedList(id, ranked, documents, other) {
  return el("ol", { class: "ranked", id }, ranked.order.map((i, rank) => {
    const moved = other.order.indexOf(i) !== rank;
    return el("li", { class: moved ? "moved" : null }, documents[i], el("span", { class: "score", text: fmt(ranked.scores[i]) }));
  }));
}

export async function render(root, info) {
  if (!info.transformer) {
    root.append(el("h2", { text: "Symmetric vs asymmetric" }),
      el("p", { class: "error", role: "alert", text: "This page needs a transformer model with prompts." }));
    return;
  }
  const hasPrompts = Boolean(info.query_prompt || info.document_prompt);
  const query = el("input", { type: "text", value: "capital of France" });
  const documents = el("textarea", { rows: 5 });
  documents.value = DOCUMENTS.join("\n");
  const queryPrefix = el("input", { type: "text", value: hasPrompts ? info.query_prompt : "query: " });
  const documentPrefix = el("input", { type: "text", value: hasPrompts ? info.document_prompt : "passage: " });
  const button = el("button", { type: "submit", id: "asym-run", text: "Rank" });
  const error = errorBox();
  const out = el("div", { id: "asym-result", "aria-live": "polite" });
  const run = () => busy(button, error, async () => {
    const list = lines(documents.value);
    const result = await post("/playground/asymmetric", {
      query: query.value.trim(), documents: list, query_prefix: queryPrefix.value, document_prefix: documentPrefix.value,
    });
    out.replaceChildren(el("div", { class: "grid" },
      section("Symmetric: query and documents encoded alike", rankedList("asym-symmetric", result.symmetric, list, result.asymmetric)),
      section(`Asymmetric: "${queryPrefix.value}" + query, "${documentPrefix.value}" + document`,
        rankedList("asym-asymmetric", result.asymmetric, list, result.symmetric))),
    el("p", { class: "note", text: "Red: a document whose rank differs between the two encodings." }));
  });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); run(); } },
    field("asym-query", "Query", query),
    field("asym-documents", "Documents (one per line)", documents),
    el("div", { class: "grid" }, field("asym-qprefix", "Query prefix", queryPrefix),
      field("asym-dprefix", "Document prefix", documentPrefix)),
    button, error);
  root.append(
    el("h2", { text: "Symmetric vs asymmetric" }),
    el("p", { class: "lead", text: "Similarity is symmetric (two sentences alike); search is asymmetric (a short question, " +
      "a long answer). Retrieval models such as E5 mark the two roles with prefixes." }),
    hasPrompts ? null : el("p", { class: "note", id: "asym-no-prompts", text: `${info.model} has no query/passage prompts of its own; ` +
      "the prefixes below are E5's, which this model never saw in training: the comparison shows what prefixes do to an untrained-for model." }),
    section("Query and documents", form), out);
  await run();
}
