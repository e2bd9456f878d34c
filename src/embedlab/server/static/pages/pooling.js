// Page 2: one sentence's token x dimension map, its five pooled vectors, each pooling's ranking; trained vs raw.

import { post } from "../api.js";
import { cosineBars, heatmap } from "../charts.js";
import { busy, el, errorBox, field, fmt, lines, section } from "../ui.js";

const NAMES = { cls: "CLS", mean: "mean", max: "max", weighted_mean: "weighted", cls_attention: "CLS-attention" };
const CANDIDATES = [
  "Someone is playing an instrument.",
  "A woman is slicing onions.",
  "The guitarist performs on stage.",
  "Stock prices dropped on Monday.",
];

function rankings(result, candidates) {
  return el("div", { class: "grid", id: "pool-rankings" }, Object.entries(result.rankings).map(([strategy, ranked]) =>
    el("div", { "data-strategy": strategy },
      el("h4", { text: `${NAMES[strategy]} pooling` }),
      el("ol", { class: "ranked" }, ranked.order.map((i) =>
        el("li", {}, candidates[i], el("span", { class: "score", text: fmt(ranked.scores[i]) })))))));
}

export async function render(root, info) {
  if (!info.transformer) {
    root.append(el("h2", { text: "Pooling" }),
      el("p", { class: "error", role: "alert", text: "This page needs a transformer model; the served model has no tokens to show." }));
    return;
  }
  const text = el("input", { type: "text", value: "A man is playing the guitar." });
  const candidates = el("textarea", { rows: 4 });
  candidates.value = CANDIDATES.join("\n");
  const trained = el("input", { type: "radio", name: "pool-model", id: "pool-trained", value: "trained", checked: true });
  const raw = el("input", { type: "radio", name: "pool-model", id: "pool-raw", value: "raw" });
  const button = el("button", { type: "submit", id: "pool-run", text: "Pool" });
  const error = errorBox();
  const out = el("div", { id: "pool-result", "aria-live": "polite" });
  const run = () => busy(button, error, async () => {
    const list = lines(candidates.value);
    const model = raw.checked ? "raw" : "trained";
    const result = await post("/playground/pooling", { text: text.value.trim(), candidates: list, model });
    const unrelated = new Set(info.unrelated_pairs);
    const unrelatedMean = info.unrelated_pairs.reduce((s, i) => s + result.classic[i].score, 0) / unrelated.size;
    const rows = Object.keys(result.pooled);
    out.replaceChildren(
      el("p", { id: "pool-model-name" }, "model: ", el("strong", { text: result.model })),
      section(`Token × dimension (${result.tokens.length} tokens × ${result.heatmap[0].length} dimensions)`,
        el("div", { class: "heat" }, heatmap(result.heatmap, result.tokens, "token by dimension heat map"))),
      section("Pooled vectors: five ways to make one vector of the tokens",
        heatmap(rows.map((s) => result.pooled[s]), rows.map((s) => NAMES[s]), "pooled vectors")),
      section("How each pooling ranks the candidates (cosine with the sentence)", rankings(result, list)),
      section("The cone: cosines of the classic pairs under this model",
        el("p", { id: "pool-cone", text: `mean cosine of the unrelated pairs: ${fmt(unrelatedMean)}` +
          (model === "raw" ? " — an untrained model crowds every text into a narrow cone, so unrelated texts look alike."
            : " — training spreads unrelated texts apart.") }),
        cosineBars(result.classic.map((c) => c.label), result.classic.map((c) => c.score), unrelated,
          "classic pair cosines, unrelated in red")));
  });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); run(); } },
    field("pool-text", "Sentence", text),
    field("pool-candidates", "Candidates (one per line)", candidates),
    el("fieldset", {}, el("legend", { text: "Model" }),
      el("label", {}, trained, ` trained (${info.model})`),
      el("label", {}, raw, " raw (same architecture, random weights)")),
    el("div", { class: "row" }, button), error);
  for (const radio of [trained, raw]) radio.addEventListener("change", run);
  root.append(
    el("h2", { text: "Pooling" }),
    el("p", { class: "lead", text: "A transformer gives one vector per token; pooling turns them into one vector per text. " +
      "Switch to the raw model to see why pooling alone is not enough: without training, everything looks similar." }),
    section("Input", form), out);
  await run();
}
