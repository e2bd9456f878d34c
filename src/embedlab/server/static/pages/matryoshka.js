// Page 6: a dimension slider from the full size down to 32; scores and the ranking at each size.

import { post } from "../api.js";
import { lineChart, PALETTE } from "../charts.js";
import { busy, el, errorBox, field, fmt, lines, section, table } from "../ui.js";

const DOCUMENTS = [
  "A man is playing the guitar on stage.",
  "Someone performs a song with a guitar.",
  "A woman is playing the violin.",
  "The band plays music at a concert.",
  "A chef is cooking pasta in a kitchen.",
  "Stock prices fell sharply on Monday.",
];

export async function render(root, info) {
  const query = el("input", { type: "text", value: "guitar player" });
  const documents = el("textarea", { rows: 6 });
  documents.value = DOCUMENTS.join("\n");
  const dims = info.matryoshka_dimensions;
  const slider = el("input", { type: "range", id: "mat-slider", min: "0", max: String(dims.length - 1), value: "0", step: "1",
    "aria-valuetext": `${dims[0]} dimensions` });
  const sliderLabel = el("output", { id: "mat-dim", for: "mat-slider", text: `${dims[0]} dimensions` });
  const button = el("button", { type: "submit", id: "mat-run", text: "Compute" });
  const error = errorBox();
  const tableBox = el("div", { class: "scroll", id: "mat-table-box", "aria-live": "polite" });
  const chartBox = el("div", {});
  let result = null;
  let list = [];

  const show = () => {
    const dim = dims[Number(slider.value)];
    sliderLabel.textContent = `${dim} dimensions`;
    slider.setAttribute("aria-valuetext", `${dim} dimensions`);
    if (!result) return;
    const full = result.rankings[dims[0]];
    const now = result.rankings[dim];
    const rows = now.order.map((i, rank) => {
      const fullRank = full.order.indexOf(i);
      return [String(rank + 1), list[i], el("span", { class: "num", "data-doc": String(i), text: fmt(now.scores[i]) }),
        fmt(full.scores[i]), el("span", { class: fullRank === rank ? null : "moved", text: String(fullRank + 1) })];
    });
    tableBox.replaceChildren(table(["Rank", "Document", `Cosine at ${dim}`, `Cosine at ${dims[0]}`, `Rank at ${dims[0]}`],
      rows, { id: "mat-table" }));
  };
  const run = () => busy(button, error, async () => {
    list = lines(documents.value);
    result = await post("/playground/matryoshka", { query: query.value.trim(), documents: list });
    chartBox.replaceChildren(lineChart(list.map((_, i) => ({ values: dims.map((d) => result.rankings[d].scores[i]),
      colour: PALETTE[i % PALETTE.length] })), "each document's cosine as the dimensions shrink",
    { xLabel: `dimensions: ${dims.join(" → ")}`, yLabel: "cosine" }),
    el("ul", { class: "note" }, list.map((doc, i) => el("li", { style: `color:${PALETTE[i % PALETTE.length]}`, text: doc }))));
    show();
  });
  slider.addEventListener("input", show);
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); run(); } },
    field("mat-query", "Query", query), field("mat-documents", "Documents (one per line)", documents), button, error);
  root.append(
    el("h2", { text: "Matryoshka embeddings" }),
    el("p", { class: "lead", text: "Keep only the first N values of each vector and re-normalise (the dimensions parameter of " +
      "/v1/embeddings). A model trained with a Matryoshka loss keeps its ranking at small sizes; others drift." }),
    section("Query and documents", form),
    section("Size", el("div", { class: "row" }, el("label", { for: "mat-slider", text: "Dimensions" }), slider, sliderLabel),
      tableBox),
    section("Cosines across sizes", chartBox));
  await run();
}
