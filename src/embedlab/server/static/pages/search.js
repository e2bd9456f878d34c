// Page 7: search the server's index (dense / BM25 / hybrid / + rerank) and the RAG steps laid out.

import { post } from "../api.js";
import { busy, el, errorBox, field, fmt, section } from "../ui.js";

const MODES = ["dense", "bm25", "hybrid"];

function noIndex(root) {
  root.append(
    el("h2", { text: "Search and RAG" }),
    el("div", { class: "card", id: "search-no-index" },
      el("p", { text: "No index is loaded on this server. Build one and start the server with it:" }),
      el("pre", { text: "embedlab index build --corpus DOCS.jsonl --out my-index --model minilm\n" +
        "embedlab serve --model minilm --index my-index [--reranker CROSS_ENCODER_DIR]\n\n" +
        "# SciFact, when the data is present:\n" +
        "embedlab index build --corpus ../shared/data/beir/scifact --out scifact-index\n" +
        "embedlab serve --index scifact-index" }),
      el("p", { class: "note", text: "See docs/serving.md." })));
}

function hitItem(hit) {
  return el("li", {}, el("strong", { text: hit.title || hit.doc_id }),
    el("span", { class: "score", text: `${hit.doc_id}#${hit.chunk_id} · ${fmt(hit.score)}` }),
    el("div", { class: "note", text: hit.text.length > 240 ? `${hit.text.slice(0, 239)}…` : hit.text }));
}

export async function render(root, info) {
  if (!info.index) { noIndex(root); return; }
  const query = el("input", { type: "text", value: "" });
  const k = el("input", { type: "number", value: "5", min: "1", max: "20" });
  const radios = MODES.map((mode) => el("input", { type: "radio", name: "search-mode", id: `search-${mode}`, value: mode,
    checked: mode === "hybrid" }));
  const rerank = el("input", { type: "checkbox", id: "search-rerank", disabled: !info.reranker });
  const searchButton = el("button", { type: "submit", id: "search-run", text: "Search" });
  const ragButton = el("button", { type: "button", id: "rag-run", class: "secondary", text: "Answer with RAG" });
  const error = errorBox();
  const hits = el("ol", { class: "ranked", id: "search-hits", "aria-live": "polite" });
  const searched = el("p", { class: "note", id: "search-done" });
  const steps = el("div", { id: "rag-steps", "aria-live": "polite" });
  const settings = () => ({ mode: radios.find((r) => r.checked).value, k: Number(k.value), rerank: rerank.checked });

  const search = () => busy(searchButton, error, async () => {
    const { mode, k: count, rerank: reranked } = settings();
    const result = await post("/v1/search", { query: query.value.trim(), k: count, mode, rerank: reranked });
    hits.replaceChildren(...result.data.map(hitItem));
    searched.textContent = `${mode === "bm25" ? "BM25" : mode}${result.reranked ? " + rerank" : ""}, k=${count}: ` +
      `${result.data.length} hits (scores: ${mode === "dense" ? "cosine" : mode === "bm25" ? "BM25" : "fused reciprocal rank"})`;
    if (!result.data.length) hits.replaceChildren(el("li", { text: "no match" }));
  });
  const rag = () => busy(ragButton, error, async () => {
    const { mode, k: count, rerank: reranked } = settings();
    const result = await post("/playground/rag", { question: query.value.trim(), k: count, mode, rerank: reranked });
    steps.replaceChildren(
      section("1 · Encode the question",
        el("p", { class: "formula", text: `[${result.query_vector_head.map((v) => fmt(v, 3)).join(", ")}, …] ` +
          `(${result.dimensions} values)` })),
      section(`2 · Retrieve (${mode}${reranked ? " + rerank" : ""}, k=${count})`,
        el("ol", { class: "ranked", id: "rag-citations" }, result.citations.map((c) =>
          el("li", {}, el("strong", { text: `[${c.number}] ${c.doc_id}#${c.chunk_id}` }), " ", c.snippet)))),
      section("3 · Prompt with numbered sources", el("pre", { id: "rag-prompt", text: result.prompt })),
      section(`4 · Answer (${result.mode}${result.mode === "extractive" ? ": no chat endpoint configured, so the " +
        "retrieved sentences closest to the question make the answer" : ""})`,
      el("p", { id: "rag-answer", text: result.answer })));
  });
  ragButton.addEventListener("click", rag);
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); search(); } },
    field("search-query", "Query", query),
    el("div", { class: "row" },
      el("fieldset", {}, el("legend", { text: "Retrieval" }),
        ...MODES.map((mode, i) => el("label", {}, radios[i], ` ${mode === "bm25" ? "BM25" : mode}`))),
      el("label", {}, rerank, info.reranker ? " + rerank (cross-encoder)" : " + rerank (start with --reranker)"),
      field("search-k", "k", k)),
    el("div", { class: "row" }, searchButton, ragButton), error);
  root.append(
    el("h2", { text: "Search and RAG" }),
    el("p", { class: "lead", text: "Dense search compares embeddings, BM25 counts shared words, hybrid fuses both ranks; a " +
      "cross-encoder can re-score the top. RAG feeds the best chunks to an answer as numbered sources." }),
    section("Query the index", form),
    el("div", { class: "grid" }, section("Results", searched, hits), el("div", {}, steps)));
}
