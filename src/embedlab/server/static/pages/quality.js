// Page 4: the diagnostics of the loaded model beside its raw twin's, on positive pairs the user can edit.

import { post } from "../api.js";
import { histogram } from "../charts.js";
import { busy, el, errorBox, field, fmt, pairs, section, table } from "../ui.js";

const PAIRS = [
  "A man is playing a guitar. | A person plays the guitar.",
  "A woman is slicing an onion. | Someone is cutting an onion.",
  "The stock market fell sharply today. | Share prices dropped steeply.",
  "The cat sleeps on the sofa. | A cat is napping on the couch.",
  "It is raining in London. | London has rainy weather today.",
  "He goes running every morning. | Every morning he goes for a run.",
  "The children are playing in the park. | Kids play outside in the park.",
  "I enjoy writing code in Python. | Programming in Python is fun for me.",
  "The moon orbits the Earth. | Earth's moon travels around our planet.",
  "A chef is cooking pasta. | Someone is making spaghetti in a kitchen.",
  "The train was late again. | Once more the train did not arrive on time.",
  "She is reading a novel. | A woman reads a book.",
  "Deep learning needs lots of data. | Neural networks are trained on large datasets.",
  "The museum opens at nine. | Doors of the museum open at 9 am.",
  "A dog is chasing a ball. | The puppy runs after a ball.",
  "Solar panels turn sunlight into power. | Photovoltaic cells generate electricity from the sun.",
];
const METRICS = [
  ["anisotropy", "Anisotropy (mean cosine of all pairs)", "lower: texts spread out; near 1 = one cone"],
  ["anisotropy_centered", "Anisotropy after centring", "what is left once the mean direction is removed"],
  ["alignment", "Alignment (positives' distance²)", "lower: paraphrases sit together (read with uniformity: a collapsed space aligns trivially)"],
  ["uniformity", "Uniformity (log E e^(−2d²))", "lower: the space is used evenly"],
  ["effective_rank", "Effective rank", "higher: more directions in use"],
  ["auc", "Separation AUC (positive vs random)", "1: every positive above every random pair"],
  ["positive_mean", "Mean cosine of positive pairs", ""],
  ["random_mean", "Mean cosine of random pairs", ""],
];

export async function render(root, info) {
  if (!info.transformer) {
    root.append(el("h2", { text: "Quality dimensions" }),
      el("p", { class: "error", role: "alert", text: "This page compares with a raw transformer; the served model is not one." }));
    return;
  }
  const text = el("textarea", { rows: 8 });
  text.value = PAIRS.join("\n");
  const button = el("button", { type: "submit", id: "qual-run", text: "Diagnose" });
  const error = errorBox();
  const out = el("div", { id: "qual-result", "aria-live": "polite" });
  const run = () => busy(button, error, async () => {
    const result = await post("/playground/quality", { pairs: pairs(text.value) });
    const rows = METRICS.map(([key, name, hint]) => [name,
      el("span", { class: "num", "data-metric": key, "data-model": "trained", text: fmt(result.trained[key]) }),
      el("span", { class: "num", "data-metric": key, "data-model": "raw", text: fmt(result.raw[key]) }), hint]);
    const plot = (report, title) => section(title, histogram(report.histogram.edges, [
      { name: "random pairs", counts: report.histogram.random, colour: "#888" },
      { name: "positive pairs", counts: report.histogram.positive, colour: "#d62728" },
    ], `${title}: cosine histograms`));
    out.replaceChildren(
      section(`Diagnostics on ${result.trained.n_texts} texts (${result.trained.dim}-d)`,
        el("div", { class: "scroll" }, table(["Measure", `${result.trained.model}`, `${result.raw.model}`, "Better is"], rows,
          { id: "qual-table" }))),
      el("div", { class: "grid" }, plot(result.trained, `trained: ${result.trained.model}`),
        plot(result.raw, `raw: ${result.raw.model}`)));
  });
  const form = el("form", { onsubmit: (event) => { event.preventDefault(); run(); } },
    field("qual-pairs", "Positive pairs, one \"text | paraphrase\" per line", text), button, error);
  root.append(
    el("h2", { text: "Quality dimensions" }),
    el("p", { class: "lead", text: "What makes an embedding space good, measured on the loaded model and on the same " +
      "architecture with random weights (Ethayarajh 2019; Wang & Isola 2020)." }),
    section("Pairs", form), out);
  await run();
}
